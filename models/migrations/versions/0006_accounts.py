"""several bot accounts on one database: the account serving each group, the account sending each outgoing
message, the account that heard from each user last

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-19
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'heard_by',
        sa.Column('user_id', sa.String(length=128), nullable=False),
        sa.Column('account', sa.String(length=32), nullable=False),
        sa.Column('heard_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_heard_by')),
    )
    with op.batch_alter_table('groups') as batch:
        batch.add_column(sa.Column('account', sa.String(length=32), nullable=True))
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('account', sa.String(length=32), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+), as in 0005.
    for table in ('outbox', 'groups'):
        op.execute(f'ALTER TABLE {table} DROP COLUMN account')
    op.drop_table('heard_by')
