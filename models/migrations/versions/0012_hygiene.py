"""Group hygiene: rules versions and acknowledgements, the whitelist, the moderation audit log, member notices

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'rules_versions',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('community_id', sa.String(length=32), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('edited_by', sa.String(length=128), nullable=True),
        sa.Column('edited_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'],
                                name=op.f('fk_rules_versions_community_id_communities')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rules_versions')),
        sa.UniqueConstraint('community_id', 'version', name=op.f('uq_rules_versions_community_id')),
    )
    op.create_table(
        'rules_acks',
        sa.Column('community_id', sa.String(length=32), nullable=False),
        sa.Column('user_id', sa.String(length=128), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('acked_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'],
                                name=op.f('fk_rules_acks_community_id_communities')),
        sa.PrimaryKeyConstraint('community_id', 'user_id', 'version', name=op.f('pk_rules_acks')),
    )
    op.create_table(
        'whitelist',
        sa.Column('community_id', sa.String(length=32), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('value', sa.String(length=128), nullable=False),
        sa.Column('added_by', sa.String(length=128), nullable=False),
        sa.Column('added_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'],
                                name=op.f('fk_whitelist_community_id_communities')),
        sa.PrimaryKeyConstraint('community_id', 'kind', 'value', name=op.f('pk_whitelist')),
    )
    op.create_table(
        'moderation_actions',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('community_id', sa.String(length=32), nullable=False),
        sa.Column('number', sa.Integer(), nullable=True),
        sa.Column('user_id', sa.String(length=128), nullable=False),
        sa.Column('room_id', sa.String(length=128), nullable=True),
        sa.Column('rule', sa.String(length=16), nullable=False),
        sa.Column('step', sa.String(length=16), nullable=False),
        sa.Column('evidence', sa.Text(), nullable=False),
        sa.Column('repeats', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=True),
        sa.Column('expires_at', UTCDateTime(), nullable=True),
        sa.Column('actor_id', sa.String(length=128), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('last_at', UTCDateTime(), nullable=False),
        sa.Column('handled_by', sa.String(length=128), nullable=True),
        sa.Column('handled_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'],
                                name=op.f('fk_moderation_actions_community_id_communities')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_actions')),
    )
    op.create_index('ix_moderation_actions_member', 'moderation_actions', ['community_id', 'user_id', 'created_at'])
    op.create_index('ix_moderation_actions_number', 'moderation_actions', ['community_id', 'number'])
    op.create_table(
        'member_notices',
        sa.Column('community_id', sa.String(length=32), nullable=False),
        sa.Column('user_id', sa.String(length=128), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('last_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'],
                                name=op.f('fk_member_notices_community_id_communities')),
        sa.PrimaryKeyConstraint('community_id', 'user_id', 'kind', name=op.f('pk_member_notices')),
    )


def downgrade() -> None:
    op.drop_table('member_notices')
    op.drop_index('ix_moderation_actions_number', table_name='moderation_actions')
    op.drop_index('ix_moderation_actions_member', table_name='moderation_actions')
    op.drop_table('moderation_actions')
    op.drop_table('whitelist')
    op.drop_table('rules_acks')
    op.drop_table('rules_versions')
