"""LLM summaries for digests: groups switched on, topic batch summaries, opening paragraphs, tokens used

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'summary_settings',
        sa.Column('room_id', sa.String(length=128), nullable=False),
        sa.Column('community_id', sa.String(length=32), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('changed_by', sa.String(length=128), nullable=False),
        sa.Column('changed_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'],
                                name=op.f('fk_summary_settings_community_id_communities')),
        sa.PrimaryKeyConstraint('room_id', name=op.f('pk_summary_settings')),
    )
    op.create_table(
        'topic_summaries',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('community_id', sa.String(length=32), nullable=False),
        sa.Column('room_id', sa.String(length=128), nullable=False),
        sa.Column('topic_key', sa.String(length=64), nullable=False),
        sa.Column('batch', sa.Integer(), nullable=False),
        sa.Column('first_message_id', sa.Integer(), nullable=False),
        sa.Column('last_message_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('people', sa.JSON(), nullable=False),
        sa.Column('made_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'],
                                name=op.f('fk_topic_summaries_community_id_communities')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_topic_summaries')),
        sa.UniqueConstraint('room_id', 'topic_key', 'batch', name='uq_topic_summaries_batch'),
    )
    op.create_index('ix_topic_summaries_room', 'topic_summaries', ['room_id', 'topic_key', 'status'])
    op.create_table(
        'digest_openings',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('community_id', sa.String(length=32), nullable=False),
        sa.Column('room_id', sa.String(length=128), nullable=False),
        sa.Column('week_start', UTCDateTime(), nullable=False),
        sa.Column('input_hash', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('people', sa.JSON(), nullable=False),
        sa.Column('question_ids', sa.JSON(), nullable=False),
        sa.Column('made_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'],
                                name=op.f('fk_digest_openings_community_id_communities')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_digest_openings')),
        sa.UniqueConstraint('room_id', 'week_start', 'input_hash', name='uq_digest_openings_input'),
    )
    op.create_index('ix_digest_openings_room', 'digest_openings', ['room_id', 'week_start'])
    op.create_table(
        'llm_usage',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('community_id', sa.String(length=32), nullable=False),
        sa.Column('week_start', UTCDateTime(), nullable=False),
        sa.Column('tokens', sa.Integer(), nullable=False),
        sa.Column('purpose', sa.String(length=16), nullable=False),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'],
                                name=op.f('fk_llm_usage_community_id_communities')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_llm_usage')),
    )
    op.create_index('ix_llm_usage_week', 'llm_usage', ['community_id', 'week_start'])


def downgrade() -> None:
    op.drop_index('ix_llm_usage_week', table_name='llm_usage')
    op.drop_table('llm_usage')
    op.drop_index('ix_digest_openings_room', table_name='digest_openings')
    op.drop_table('digest_openings')
    op.drop_index('ix_topic_summaries_room', table_name='topic_summaries')
    op.drop_table('topic_summaries')
    op.drop_table('summary_settings')
