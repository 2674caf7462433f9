"""weekly digests: drafts and numbered published issues, answers picked for them, correction notes; the tips
an answer received found by the answer

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-26
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'digests',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('community_id', sa.String(length=32), nullable=False),
        sa.Column('room_id', sa.String(length=128), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('start', UTCDateTime(), nullable=False),
        sa.Column('end', UTCDateTime(), nullable=False),
        sa.Column('question_id', sa.Integer(), nullable=True),
        sa.Column('sections', sa.JSON(), nullable=False),
        sa.Column('dropped', sa.JSON(), nullable=False),
        sa.Column('rewritten', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('number', sa.Integer(), nullable=True),
        sa.Column('requested_by', sa.String(length=128), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('published_at', UTCDateTime(), nullable=True),
        sa.Column('published_by', sa.String(length=128), nullable=True),
        sa.Column('auto', sa.Boolean(), nullable=False),
        sa.Column('cause', sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_digests_community_id_communities')),
        sa.ForeignKeyConstraint(['question_id'], ['questions.id'], name=op.f('fk_digests_question_id_questions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_digests')),
        sa.UniqueConstraint('community_id', 'number', name='uq_digests_number'),
    )
    op.create_index('ix_digests_room', 'digests', ['room_id', 'status', 'start'])
    op.create_table(
        'digest_picks',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('community_id', sa.String(length=32), nullable=False),
        sa.Column('digest_id', sa.Integer(), nullable=False),
        sa.Column('answer_id', sa.Integer(), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=False),
        sa.Column('picked_by', sa.Integer(), nullable=False),
        sa.Column('picked_at', UTCDateTime(), nullable=False),
        sa.Column('cause', sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'],
                                name=op.f('fk_digest_picks_community_id_communities')),
        sa.ForeignKeyConstraint(['digest_id'], ['digests.id'], name=op.f('fk_digest_picks_digest_id_digests')),
        sa.ForeignKeyConstraint(['answer_id'], ['answers.id'], name=op.f('fk_digest_picks_answer_id_answers')),
        sa.ForeignKeyConstraint(['author_id'], ['members.id'], name=op.f('fk_digest_picks_author_id_members')),
        sa.ForeignKeyConstraint(['picked_by'], ['members.id'], name=op.f('fk_digest_picks_picked_by_members')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_digest_picks')),
        sa.UniqueConstraint('answer_id', name='uq_digest_picks_answer_id'),
    )
    op.create_index('ix_digest_picks_week', 'digest_picks', ['community_id', 'picked_at'])
    op.create_table(
        'digest_corrections',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('digest_id', sa.Integer(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('cause', sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(['digest_id'], ['digests.id'], name=op.f('fk_digest_corrections_digest_id_digests')),
        sa.ForeignKeyConstraint(['author_id'], ['members.id'], name=op.f('fk_digest_corrections_author_id_members')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_digest_corrections')),
        sa.UniqueConstraint('digest_id', 'number', name='uq_digest_corrections_number'),
    )
    op.create_index('ix_ledger_entries_answer', 'ledger_entries', ['answer_id'])


def downgrade() -> None:
    op.drop_index('ix_ledger_entries_answer', table_name='ledger_entries')
    op.drop_table('digest_corrections')
    op.drop_index('ix_digest_picks_week', table_name='digest_picks')
    op.drop_table('digest_picks')
    op.drop_index('ix_digests_room', table_name='digests')
    op.drop_table('digests')
