"""LLM summaries for digests: which groups an owner switched on, each batch of a topic's messages summarised once,
the week's opening paragraphs, and the tokens the endpoint reported (the weekly budget).

Summaries are stored as the model wrote them, with placeholders ([P1]) for people and a map of each placeholder to a
user id: names are put back when a digest is read, so a rename shows the new name and a member who deleted their
data makes the summary disappear, like their messages."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime

DONE, FAILED = "done", "failed"


class SummarySetting(Base):
    """Whether a group's digests get LLM summaries (off until an owner switches them on)."""

    __tablename__ = "summary_settings"

    room_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_by: Mapped[str] = mapped_column(String(128))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TopicSummary(Base):
    """The summary of a topic up to the end of one batch of its messages (batch n carries batches 0..n-1 forward):
    made once; a failed batch is tried again on a later run, a few times."""

    __tablename__ = "topic_summaries"
    __table_args__ = (UniqueConstraint("room_id", "topic_key", "batch", name="uq_topic_summaries_batch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    room_id: Mapped[str] = mapped_column(String(128))
    topic_key: Mapped[str] = mapped_column(String(64))          # the digest section's key: topic:<first message id>
    batch: Mapped[int] = mapped_column(Integer)
    first_message_id: Mapped[int] = mapped_column(Integer)
    last_message_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    text: Mapped[str] = mapped_column(Text, default="")         # with placeholders
    people: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)       # placeholder -> user id
    made_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DigestOpening(Base):
    """An opening paragraph of a group's week, made from its topic summaries and question titles; a new one only
    when those changed."""

    __tablename__ = "digest_openings"
    __table_args__ = (UniqueConstraint("room_id", "week_start", "input_hash", name="uq_digest_openings_input"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    room_id: Mapped[str] = mapped_column(String(128))
    week_start: Mapped[datetime] = mapped_column(UTCDateTime())
    input_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12))
    text: Mapped[str] = mapped_column(Text, default="")
    people: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    question_ids: Mapped[list[int]] = mapped_column(JSON, default=list)     # a question hidden since drops it
    made_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LlmUsage(Base):
    """Tokens one request used, as the endpoint reported them (its `usage`)."""

    __tablename__ = "llm_usage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    week_start: Mapped[datetime] = mapped_column(UTCDateTime())
    tokens: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(16))             # topic or opening
    at: Mapped[datetime] = mapped_column(UTCDateTime())


Index("ix_topic_summaries_room", TopicSummary.room_id, TopicSummary.topic_key, TopicSummary.status)
Index("ix_digest_openings_room", DigestOpening.room_id, DigestOpening.week_start)
Index("ix_llm_usage_week", LlmUsage.community_id, LlmUsage.week_start)


async def delete_summaries(db: AsyncSession, community_id: str, *, user_id: str | None = None,
                           room_id: str | None = None) -> None:
    """Remove the summaries made from chat that is being removed: a group's (purged), or those that involve a member
    (their deleted data), in the caller's transaction."""
    for table in (TopicSummary, DigestOpening):
        where = [table.community_id == community_id]
        if room_id is not None:
            where.append(table.room_id == room_id)
        if user_id is not None:         # placeholders map to user ids in JSON: read, then delete by id
            rows = (await db.execute(select(table.id, table.people).where(*where))).all()
            ids = [row_id for row_id, people in rows if user_id in (people or {}).values()]
            if not ids:
                continue
            where.append(table.id.in_(ids))
        await db.execute(delete(table).where(*where))
