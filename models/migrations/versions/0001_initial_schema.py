"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-24
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('communities',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('started_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_communities'))
    )
    op.create_table('job_cursors',
    sa.Column('job', sa.String(length=64), nullable=False),
    sa.Column('community_id', sa.String(length=32), nullable=False),
    sa.Column('last_fire', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('job', 'community_id', name=op.f('pk_job_cursors'))
    )
    op.create_table('job_runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('job', sa.String(length=64), nullable=False),
    sa.Column('community_id', sa.String(length=32), nullable=False),
    sa.Column('period', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('ran_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_runs')),
    sa.UniqueConstraint('job', 'community_id', 'period', name=op.f('uq_job_runs_job'))
    )
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('chat_key', sa.String(length=140), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('mentions', sa.JSON(), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=True),
    sa.Column('target', sa.String(length=128), nullable=True),
    sa.Column('reply_to', sa.JSON(), nullable=True),
    sa.Column('purpose', sa.String(length=32), nullable=True),
    sa.Column('cause', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('not_before', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_chat_status', ['chat_key', 'status'], unique=False)
        batch_op.create_index('ix_outbox_status_due', ['status', 'not_before'], unique=False)

    op.create_table('processed_events',
    sa.Column('event_id', sa.String(length=200), nullable=False),
    sa.Column('handled_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_processed_events'))
    )
    op.create_table('room_members',
    sa.Column('room_id', sa.String(length=128), nullable=False),
    sa.Column('user_id', sa.String(length=128), nullable=False),
    sa.Column('present', sa.Boolean(), nullable=False),
    sa.Column('joined_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('left_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('room_id', 'user_id', name=op.f('pk_room_members'))
    )
    op.create_table('dm_choices',
    sa.Column('user_id', sa.String(length=128), nullable=False),
    sa.Column('community_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_dm_choices_community_id_communities')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_dm_choices'))
    )
    op.create_table('flows',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('community_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('step', sa.String(length=32), nullable=False),
    sa.Column('chat_key', sa.String(length=140), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('expires_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_flows_community_id_communities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flows')),
    sa.UniqueConstraint('community_id', 'user_id', name=op.f('uq_flows_community_id'))
    )
    op.create_table('groups',
    sa.Column('room_id', sa.String(length=128), nullable=False),
    sa.Column('community_id', sa.String(length=32), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=True),
    sa.Column('size_hint', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('enabled_by', sa.String(length=128), nullable=True),
    sa.Column('enabled_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_groups_community_id_communities')),
    sa.PrimaryKeyConstraint('room_id', name=op.f('pk_groups'))
    )
    op.create_table('members',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('community_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=128), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('first_seen_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('joined_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('invited_by', sa.String(length=128), nullable=True),
    sa.Column('last_active_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deleted_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_members_community_id_communities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_members')),
    sa.UniqueConstraint('community_id', 'user_id', name=op.f('uq_members_community_id'))
    )
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.create_index('ix_members_community_joined', ['community_id', 'joined_at'], unique=False)
        batch_op.create_index('ix_members_community_name', ['community_id', 'display_name'], unique=False)

    op.create_table('role_grants',
    sa.Column('community_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=128), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('granted_by', sa.String(length=128), nullable=True),
    sa.Column('granted_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_role_grants_community_id_communities')),
    sa.PrimaryKeyConstraint('community_id', 'user_id', 'role', name=op.f('pk_role_grants'))
    )
    op.create_table('profile_terms',
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('field', sa.String(length=16), nullable=False),
    sa.Column('term', sa.String(length=100), nullable=False),
    sa.Column('community_id', sa.String(length=32), nullable=False),
    sa.Column('exact', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_profile_terms_member_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('member_id', 'field', 'term', name=op.f('pk_profile_terms'))
    )
    with op.batch_alter_table('profile_terms', schema=None) as batch_op:
        batch_op.create_index('ix_profile_terms_lookup', ['community_id', 'term', 'member_id', 'field', 'exact'], unique=False)

    op.create_table('profiles',
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.String(length=32), nullable=False),
    sa.Column('real_name', sa.String(length=40), nullable=True),
    sa.Column('company', sa.String(length=80), nullable=True),
    sa.Column('city', sa.String(length=40), nullable=True),
    sa.Column('title', sa.String(length=60), nullable=True),
    sa.Column('industry', sa.String(length=60), nullable=True),
    sa.Column('path', sa.String(length=200), nullable=True),
    sa.Column('skills', sa.String(length=200), nullable=True),
    sa.Column('needs', sa.String(length=200), nullable=True),
    sa.Column('interests', sa.String(length=200), nullable=True),
    sa.Column('consented_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_profiles_community_id_communities')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_profiles_member_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_profiles'))
    )


def downgrade() -> None:
    op.drop_table('profiles')
    with op.batch_alter_table('profile_terms', schema=None) as batch_op:
        batch_op.drop_index('ix_profile_terms_lookup')

    op.drop_table('profile_terms')
    op.drop_table('role_grants')
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_index('ix_members_community_name')
        batch_op.drop_index('ix_members_community_joined')

    op.drop_table('members')
    op.drop_table('groups')
    op.drop_table('flows')
    op.drop_table('dm_choices')
    op.drop_table('room_members')
    op.drop_table('processed_events')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_status_due')
        batch_op.drop_index('ix_outbox_chat_status')

    op.drop_table('outbox')
    op.drop_table('job_runs')
    op.drop_table('job_cursors')
    op.drop_table('communities')
