"""the knowledge base's search index: scopes and postings, filled from the questions, answers and kept chat
already stored

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-26
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

def upgrade() -> None:
    op.create_table(
        'search_scopes',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('key', sa.String(length=160), nullable=False),
        sa.Column('community_id', sa.String(length=32), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('docs', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'],
                                name=op.f('fk_search_scopes_community_id_communities')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_search_scopes')),
        sa.UniqueConstraint('key', name=op.f('uq_search_scopes_key')),
    )
    op.create_table(
        'search_postings',
        sa.Column('scope_id', sa.Integer(), nullable=False),
        sa.Column('doc_id', sa.Integer(), nullable=False),
        sa.Column('term', sa.String(length=32), nullable=False),
        sa.Column('weight', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['scope_id'], ['search_scopes.id'],
                                name=op.f('fk_search_postings_scope_id_search_scopes')),
        sa.PrimaryKeyConstraint('scope_id', 'doc_id', 'term', name=op.f('pk_search_postings')),
        sqlite_with_rowid=False,
    )
    op.create_index('ix_search_postings_rank', 'search_postings', ['scope_id', 'term', 'weight', 'doc_id'])
    from bot.search import index_stored

    index_stored(op.get_bind())      # what was stored before the index


def downgrade() -> None:
    op.drop_index('ix_search_postings_rank', table_name='search_postings')
    op.drop_table('search_postings')
    op.drop_table('search_scopes')
