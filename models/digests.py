"""Digests of a group's week (or of a span, or of one question): a draft a moderator edits, then a numbered
published issue. A digest keeps references (question, answer and message ids) and figures, never copied text, so
what is hidden or deleted later is gone when it is read again; only a moderator's rewritten section is text."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime

DRAFT, PUBLISHED = "draft", "published"


class Digest(Base):
    """One digest of one group: a draft (at most one per group) or a published issue (第 N 期, numbered per
    community)."""

    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("community_id", "number", name="uq_digests_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    room_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))              # week, span or question
    start: Mapped[datetime] = mapped_column(UTCDateTime())
    end: Mapped[datetime] = mapped_column(UTCDateTime())
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id"))
    # [{"key": "q:12" | "topic:345" | "links" | ..., "kind": ..., refs and figures}], in the order shown
    sections: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    dropped: Mapped[list[str]] = mapped_column(JSON, default=list)            # keys of sections left out
    rewritten: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)     # key -> a moderator's text
    status: Mapped[str] = mapped_column(String(12), default=DRAFT)
    number: Mapped[int | None] = mapped_column(Integer)
    requested_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published_by: Mapped[str | None] = mapped_column(String(128))     # None: published by the weekly job
    auto: Mapped[bool] = mapped_column(Boolean, default=False)
    cause: Mapped[str] = mapped_column(String(200))


Index("ix_digests_room", Digest.room_id, Digest.status, Digest.start)


class DigestPick(Base):
    """An answer picked for a digest (入选周报): it counts in its author's score in the week it was picked."""

    __tablename__ = "digest_picks"
    __table_args__ = (UniqueConstraint("answer_id", name="uq_digest_picks_answer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    digest_id: Mapped[int] = mapped_column(ForeignKey("digests.id"))
    answer_id: Mapped[int] = mapped_column(ForeignKey("answers.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    picked_by: Mapped[int] = mapped_column(ForeignKey("members.id"))
    picked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cause: Mapped[str] = mapped_column(String(200))


Index("ix_digest_picks_week", DigestPick.community_id, DigestPick.picked_at)


class DigestCorrection(Base):
    """A numbered correction note to a published digest (published digests are never edited)."""

    __tablename__ = "digest_corrections"
    __table_args__ = (UniqueConstraint("digest_id", "number", name="uq_digest_corrections_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    digest_id: Mapped[int] = mapped_column(ForeignKey("digests.id"))
    number: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cause: Mapped[str] = mapped_column(String(200))
