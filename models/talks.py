"""Guest talks (分享会): scheduled by moderators, with questions collected ahead and voted on."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime

SCHEDULED, CANCELLED = "scheduled", "cancelled"


class Talk(Base):
    """Talk #3 of a community: a guest speaking in a group at a time for a while."""

    __tablename__ = "talks"
    __table_args__ = (UniqueConstraint("community_id", "number", name="uq_talks_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    number: Mapped[int] = mapped_column(Integer)
    room_id: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(200))
    guest: Mapped[str] = mapped_column(String(100))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    minutes: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(10), default=SCHEDULED)
    cause: Mapped[str] = mapped_column(String(200))


Index("ix_talks_start", Talk.community_id, Talk.starts_at)


class TalkQuestion(Base):
    """A question for a talk, numbered per talk (not a Q id), ordered by its votes."""

    __tablename__ = "talk_questions"
    __table_args__ = (UniqueConstraint("talk_id", "number", name="uq_talk_questions_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    talk_id: Mapped[int] = mapped_column(ForeignKey("talks.id"))
    number: Mapped[int] = mapped_column(Integer)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    text: Mapped[str] = mapped_column(Text)
    votes: Mapped[int] = mapped_column(Integer, default=0)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TalkVote(Base):
    """One member's upvote of one question (once each)."""

    __tablename__ = "talk_votes"

    question_id: Mapped[int] = mapped_column(ForeignKey("talk_questions.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    voted_at: Mapped[datetime] = mapped_column(UTCDateTime())
