"""The duty rotation: its queue, whose turn is next, shifts served, swaps waiting for confirmation, routed questions

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'duty_queue',
        sa.Column('community_id', sa.String(length=32), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('joined_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_duty_queue_community_id_communities')),
        sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_duty_queue_member_id_members')),
        sa.PrimaryKeyConstraint('community_id', 'member_id', name=op.f('pk_duty_queue')),
    )
    op.create_table(
        'duty_shifts',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('community_id', sa.String(length=32), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('term_start', UTCDateTime(), nullable=False),
        sa.Column('term_end', UTCDateTime(), nullable=False),
        sa.Column('started_at', UTCDateTime(), nullable=False),
        sa.Column('ended_at', UTCDateTime(), nullable=True),
        sa.Column('end_reason', sa.String(length=16), nullable=True),
        sa.Column('granted', sa.Boolean(), nullable=False),
        sa.Column('settled', sa.Boolean(), nullable=False),
        sa.Column('tier', sa.Integer(), nullable=True),
        sa.Column('share', sa.Integer(), nullable=True),
        sa.Column('amount', sa.BigInteger(), nullable=True),
        sa.Column('unfunded', sa.BigInteger(), nullable=True),
        sa.Column('cause', sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_duty_shifts_community_id_communities')),
        sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_duty_shifts_member_id_members')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_duty_shifts')),
    )
    op.create_index('ix_duty_shifts_term', 'duty_shifts', ['community_id', 'term_start'])
    op.create_table(
        'duty_state',
        sa.Column('community_id', sa.String(length=32), nullable=False),
        sa.Column('next_member_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_duty_state_community_id_communities')),
        sa.ForeignKeyConstraint(['next_member_id'], ['members.id'], name=op.f('fk_duty_state_next_member_id_members')),
        sa.PrimaryKeyConstraint('community_id', name=op.f('pk_duty_state')),
    )
    op.create_table(
        'duty_swaps',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('community_id', sa.String(length=32), nullable=False),
        sa.Column('from_member_id', sa.Integer(), nullable=False),
        sa.Column('to_member_id', sa.Integer(), nullable=False),
        sa.Column('requested_at', UTCDateTime(), nullable=False),
        sa.Column('expires_at', UTCDateTime(), nullable=False),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('cause', sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_duty_swaps_community_id_communities')),
        sa.ForeignKeyConstraint(['from_member_id'], ['members.id'], name=op.f('fk_duty_swaps_from_member_id_members')),
        sa.ForeignKeyConstraint(['to_member_id'], ['members.id'], name=op.f('fk_duty_swaps_to_member_id_members')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_duty_swaps')),
    )
    op.create_index('ix_duty_swaps_to', 'duty_swaps', ['community_id', 'to_member_id', 'status'])
    op.create_table(
        'duty_routes',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('community_id', sa.String(length=32), nullable=False),
        sa.Column('question_id', sa.Integer(), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('by_member_id', sa.Integer(), nullable=False),
        sa.Column('routed_at', UTCDateTime(), nullable=False),
        sa.Column('cause', sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(['by_member_id'], ['members.id'], name=op.f('fk_duty_routes_by_member_id_members')),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_duty_routes_community_id_communities')),
        sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_duty_routes_member_id_members')),
        sa.ForeignKeyConstraint(['question_id'], ['questions.id'], name=op.f('fk_duty_routes_question_id_questions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_duty_routes')),
        sa.UniqueConstraint('question_id', 'member_id', name='uq_duty_routes_question_member'),
    )
    op.create_index('ix_duty_routes_by', 'duty_routes', ['community_id', 'by_member_id', 'routed_at'])


def downgrade() -> None:
    op.drop_index('ix_duty_routes_by', table_name='duty_routes')
    op.drop_table('duty_routes')
    op.drop_index('ix_duty_swaps_to', table_name='duty_swaps')
    op.drop_table('duty_swaps')
    op.drop_table('duty_state')
    op.drop_index('ix_duty_shifts_term', table_name='duty_shifts')
    op.drop_table('duty_shifts')
    op.drop_table('duty_queue')
