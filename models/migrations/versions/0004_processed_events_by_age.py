"""handled event ids indexed by age, for the daily retention job

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08
"""
from __future__ import annotations

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_processed_events_handled_at', 'processed_events', ['handled_at'])


def downgrade() -> None:
    op.drop_index('ix_processed_events_handled_at', table_name='processed_events')
