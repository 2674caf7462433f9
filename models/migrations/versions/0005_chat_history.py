"""the group's chat as the bot saw it, members' activity per day, a per-group switch for keeping chat

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-12
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'chat_messages',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('community_id', sa.String(length=32), nullable=False),
        sa.Column('room_id', sa.String(length=128), nullable=False),
        sa.Column('platform_id', sa.String(length=128), nullable=False),
        sa.Column('sender_id', sa.String(length=128), nullable=False),
        sa.Column('sent_at', UTCDateTime(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('url', sa.Text(), nullable=True),
        sa.Column('path', sa.Text(), nullable=True),
        sa.Column('quoted_id', sa.String(length=128), nullable=True),
        sa.Column('terms', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_chat_messages_community_id_communities')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_messages')),
        sa.UniqueConstraint('room_id', 'platform_id', name=op.f('uq_chat_messages_room_id')),
    )
    op.create_index('ix_chat_messages_room_sent', 'chat_messages', ['room_id', 'sent_at'])
    op.create_index('ix_chat_messages_sender', 'chat_messages', ['community_id', 'sender_id', 'sent_at'])
    op.create_index('ix_chat_messages_sent', 'chat_messages', ['sent_at'])
    op.create_table(
        'activity_days',
        sa.Column('community_id', sa.String(length=32), nullable=False),
        sa.Column('user_id', sa.String(length=128), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('messages', sa.Integer(), nullable=False),
        sa.Column('commands', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_activity_days_community_id_communities')),
        sa.PrimaryKeyConstraint('community_id', 'user_id', 'day', name=op.f('pk_activity_days')),
    )
    op.create_index('ix_activity_days_day', 'activity_days', ['community_id', 'day'])
    with op.batch_alter_table('groups') as batch:
        batch.add_column(sa.Column('history', sa.Boolean(), server_default=sa.true(), nullable=False))
    with op.batch_alter_table('members') as batch:
        batch.add_column(sa.Column('last_message_at', UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('last_command_at', UTCDateTime(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy of members would trip the foreign keys pointing at it.
    for table, column in (('members', 'last_command_at'), ('members', 'last_message_at'), ('groups', 'history')):
        op.execute(f'ALTER TABLE {table} DROP COLUMN {column}')
    op.drop_index('ix_activity_days_day', table_name='activity_days')
    op.drop_table('activity_days')
    op.drop_index('ix_chat_messages_sent', table_name='chat_messages')
    op.drop_index('ix_chat_messages_sender', table_name='chat_messages')
    op.drop_index('ix_chat_messages_room_sent', table_name='chat_messages')
    op.drop_table('chat_messages')
