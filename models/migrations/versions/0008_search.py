"""the knowledge base's search index: scopes and postings, filled from the questions, answers and kept chat
already stored

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-26
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0006'
branch_labels = None
depends_on = None

BATCH = 5000


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
    )
    op.create_index('ix_search_postings_rank', 'search_postings', ['scope_id', 'term', 'weight', 'doc_id'])
    _index_stored()


def _index_stored() -> None:
    """What was stored before the index: questions, answers (cut by jieba now) and kept chat (its kept terms)."""
    from bot.search import ANSWER, CHAT, QUESTION, question_terms, weights
    from bot.text import cut

    conn = op.get_bind()
    docs: list[tuple[str, str, str, int, dict[str, int]]] = []     # (community, kind, owner, doc id, weights)
    for doc_id, community_id, title, body in conn.execute(sa.text(
            'SELECT id, community_id, title, body FROM questions ORDER BY id')):
        docs.append((community_id, QUESTION, community_id, doc_id, weights(QUESTION, question_terms(title, body))))
    for doc_id, community_id, body in conn.execute(sa.text(
            'SELECT id, community_id, body FROM answers ORDER BY id')):
        docs.append((community_id, ANSWER, community_id, doc_id, weights(ANSWER, cut(body))))
    for doc_id, community_id, room_id, terms in conn.execute(sa.text(
            "SELECT id, community_id, room_id, terms FROM chat_messages WHERE terms <> '' ORDER BY id")):
        docs.append((community_id, CHAT, room_id, doc_id, weights(CHAT, terms.split())))
    counts = Counter((community_id, kind, owner) for community_id, kind, owner, _, found in docs if found)
    scopes = sa.table('search_scopes', sa.column('id', sa.Integer()), sa.column('key', sa.String()),
                      sa.column('community_id', sa.String()), sa.column('kind', sa.String()),
                      sa.column('docs', sa.Integer()))
    ids = {}
    for (community_id, kind, owner), n in sorted(counts.items()):
        conn.execute(scopes.insert().values(key=f'{kind}:{owner}', community_id=community_id, kind=kind, docs=n))
        ids[(kind, owner)] = conn.execute(sa.select(scopes.c.id).where(scopes.c.key == f'{kind}:{owner}')).scalar()
    postings = sa.table('search_postings', sa.column('scope_id', sa.Integer()), sa.column('doc_id', sa.Integer()),
                        sa.column('term', sa.String()), sa.column('weight', sa.Integer()))
    for chunk in _chunks(dict(scope_id=ids[(kind, owner)], doc_id=doc_id, term=term, weight=weight)
                         for _, kind, owner, doc_id, found in docs for term, weight in found.items()):
        conn.execute(postings.insert(), chunk)


def _chunks(rows: Iterable[dict[str, object]]) -> Iterable[list[dict[str, object]]]:
    chunk: list[dict[str, object]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == BATCH:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def downgrade() -> None:
    op.drop_index('ix_search_postings_rank', table_name='search_postings')
    op.drop_table('search_postings')
    op.drop_table('search_scopes')
