"""The duty rotation: the queue of volunteer moderators, who served when (a shift), swaps waiting for the other
side, and questions a moderator routed to a member."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime

PENDING, DONE, EXPIRED = "pending", "done", "expired"


class DutyMember(Base):
    """A member in the rotation queue; `position` is their place in it (1 first), signup order unless moved."""

    __tablename__ = "duty_queue"

    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DutyState(Base):
    """Whose turn comes next (None: the one after whoever served last, else the first in the queue)."""

    __tablename__ = "duty_state"

    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    next_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))


class DutyShift(Base):
    """One member on duty for (part of) one term; settled once the term has ended and its stipend is posted."""

    __tablename__ = "duty_shifts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    term_start: Mapped[datetime] = mapped_column(UTCDateTime())
    term_end: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())       # None: on duty now
    end_reason: Mapped[str | None] = mapped_column(String(16))             # term, left, skipped, swapped, gone
    granted: Mapped[bool] = mapped_column(Boolean, default=False)          # the duty made them a moderator
    settled: Mapped[bool] = mapped_column(Boolean, default=False)
    tier: Mapped[int | None] = mapped_column(Integer)                      # index of the KPI tier met; None: none
    share: Mapped[int | None] = mapped_column(Integer)                     # percent of the stipend
    amount: Mapped[int | None] = mapped_column(BigInteger)                 # fen posted as stipend
    unfunded: Mapped[int | None] = mapped_column(BigInteger)               # fen of it the ops account lacked
    cause: Mapped[str] = mapped_column(String(200))


Index("ix_duty_shifts_term", DutyShift.community_id, DutyShift.term_start)


class DutySwap(Base):
    """A member asked another to swap turns; it waits for the other's confirmation until `expires_at`."""

    __tablename__ = "duty_swaps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    from_member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    to_member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(8), default=PENDING)
    cause: Mapped[str] = mapped_column(String(200))


Index("ix_duty_swaps_to", DutySwap.community_id, DutySwap.to_member_id, DutySwap.status)


class DutyRoute(Base):
    """A moderator asked a member to answer a question (/值班 邀答): it counts once that member answers."""

    __tablename__ = "duty_routes"
    __table_args__ = (UniqueConstraint("question_id", "member_id", name="uq_duty_routes_question_member"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    by_member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    routed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cause: Mapped[str] = mapped_column(String(200))


Index("ix_duty_routes_by", DutyRoute.community_id, DutyRoute.by_member_id, DutyRoute.routed_at)
