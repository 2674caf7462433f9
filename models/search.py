"""The knowledge base's index: jieba terms of questions, answers and kept chat, each under the scope it is
searched in (bot.search writes and reads it)."""
from __future__ import annotations

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class SearchScope(Base):
    """What one search may see together: a community's questions, its answers, one group's kept chat.

    `key` is "<kind>:<owner>" ("question:growth", "chat:r1"); a search picks the scopes the member may see and
    reads only their postings. `docs` counts the documents indexed under it (for the terms' rarity).
    """

    __tablename__ = "search_scopes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    kind: Mapped[str] = mapped_column(String(16))
    docs: Mapped[int] = mapped_column(Integer, default=0)


class SearchPosting(Base):
    """One term of one document: `doc_id` is the row id in the scope kind's own table (questions.id,
    answers.id, chat_messages.id); `weight` is the term's BM25 share in that document, times 100."""

    __tablename__ = "search_postings"
    # Clustered by its key on SQLite: a document's postings are one seek, and the table is its own covering index.
    __table_args__ = {"sqlite_with_rowid": False}

    scope_id: Mapped[int] = mapped_column(ForeignKey("search_scopes.id"), primary_key=True)
    doc_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    term: Mapped[str] = mapped_column(String(32), primary_key=True)
    weight: Mapped[int] = mapped_column(Integer)


# A term's best documents first (newest among equals): a search reads the head of each term's list only.
Index("ix_search_postings_rank", SearchPosting.scope_id, SearchPosting.term, SearchPosting.weight,
      SearchPosting.doc_id)
