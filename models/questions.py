"""Questions asked ahead of the weekly session, their answers, and outsiders taking up a challenge."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime

OPEN, CLOSED = "open", "closed"


class Question(Base):
    """Q12: numbered per community; on the agenda of the session `session_at`."""

    __tablename__ = "questions"
    __table_args__ = (UniqueConstraint("community_id", "number", name="uq_questions_number"),
                      UniqueConstraint("challenge_code"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    number: Mapped[int] = mapped_column(Integer)
    asker_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    room_id: Mapped[str | None] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    session_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(8), default=OPEN)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    best_answer_id: Mapped[int | None] = mapped_column(Integer)     # answers.id (no FK: the tables refer both ways)
    best_marked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    best_marked_by: Mapped[str | None] = mapped_column(String(128))
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden_by: Mapped[str | None] = mapped_column(String(128))
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    challenge_code: Mapped[str | None] = mapped_column(String(12))
    challenge_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cause: Mapped[str] = mapped_column(String(200))


Index("ix_questions_agenda", Question.community_id, Question.session_at, Question.status)
Index("ix_questions_best", Question.community_id, Question.best_marked_at)
Index("ix_questions_asked", Question.community_id, Question.asked_at)


class Answer(Base):
    """A37: numbered per community, across questions."""

    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("community_id", "number", name="uq_answers_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    number: Mapped[int] = mapped_column(Integer)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    body: Mapped[str] = mapped_column(Text)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden_by: Mapped[str | None] = mapped_column(String(128))
    cause: Mapped[str] = mapped_column(String(200))


Index("ix_answers_question", Answer.question_id, Answer.number)
Index("ix_answers_week", Answer.community_id, Answer.answered_at)


class Challenger(Base):
    """An outsider who joined with a question's challenge code."""

    __tablename__ = "challengers"

    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime())
