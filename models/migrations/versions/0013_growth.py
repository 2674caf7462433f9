"""Growth: members' tags, invite codes and referrals, promotions to a tier, talent archive settings, groups' tiers

Revision ID: 0013
Revises: 0009
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'archive_settings',
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('public', sa.Boolean(), nullable=False),
        sa.Column('changed_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_archive_settings_member_id_members'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('member_id', name=op.f('pk_archive_settings')),
    )
    op.create_table(
        'invite_codes',
        sa.Column('code', sa.String(length=16), nullable=False),
        sa.Column('community_id', sa.String(length=32), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'],
                                name=op.f('fk_invite_codes_community_id_communities')),
        sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_invite_codes_member_id_members')),
        sa.PrimaryKeyConstraint('code', name=op.f('pk_invite_codes')),
        sa.UniqueConstraint('member_id', name='uq_invite_codes_member_id'),
    )
    op.create_table(
        'member_tags',
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('tag', sa.String(length=20), nullable=False),
        sa.Column('community_id', sa.String(length=32), nullable=False),
        sa.Column('added_by', sa.String(length=128), nullable=False),
        sa.Column('added_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'],
                                name=op.f('fk_member_tags_community_id_communities')),
        sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_member_tags_member_id_members'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('member_id', 'tag', name=op.f('pk_member_tags')),
    )
    op.create_index('ix_member_tags_tag', 'member_tags', ['community_id', 'tag'], unique=False)
    op.create_table(
        'promotions',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('community_id', sa.String(length=32), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('tier', sa.String(length=40), nullable=False),
        sa.Column('promoted_by', sa.String(length=128), nullable=False),
        sa.Column('promoted_at', UTCDateTime(), nullable=False),
        sa.Column('cause', sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'],
                                name=op.f('fk_promotions_community_id_communities')),
        sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_promotions_member_id_members')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_promotions')),
    )
    op.create_index('ix_promotions_member', 'promotions', ['member_id', 'tier'], unique=False)
    op.create_table(
        'referrals',
        sa.Column('invitee_id', sa.Integer(), nullable=False),
        sa.Column('community_id', sa.String(length=32), nullable=False),
        sa.Column('inviter_id', sa.Integer(), nullable=False),
        sa.Column('source', sa.String(length=10), nullable=False),
        sa.Column('code', sa.String(length=16), nullable=True),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.Column('rewarded_at', UTCDateTime(), nullable=True),
        sa.Column('cause', sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'],
                                name=op.f('fk_referrals_community_id_communities')),
        sa.ForeignKeyConstraint(['invitee_id'], ['members.id'], name=op.f('fk_referrals_invitee_id_members')),
        sa.ForeignKeyConstraint(['inviter_id'], ['members.id'], name=op.f('fk_referrals_inviter_id_members')),
        sa.PrimaryKeyConstraint('invitee_id', name=op.f('pk_referrals')),
    )
    op.create_index('ix_referrals_inviter', 'referrals', ['community_id', 'inviter_id'], unique=False)
    op.add_column('groups', sa.Column('tier', sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('groups') as batch:
        batch.drop_column('tier')
    op.drop_index('ix_referrals_inviter', table_name='referrals')
    op.drop_table('referrals')
    op.drop_index('ix_promotions_member', table_name='promotions')
    op.drop_table('promotions')
    op.drop_index('ix_member_tags_tag', table_name='member_tags')
    op.drop_table('member_tags')
    op.drop_table('invite_codes')
    op.drop_table('archive_settings')
