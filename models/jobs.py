"""Scheduled job bookkeeping: each (job, community, period) runs once; a cursor per job for catch-up."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class JobRun(Base):
    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "community_id", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(64))
    community_id: Mapped[str] = mapped_column(String(32))
    period: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(10))
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime())


class JobCursor(Base):
    """The latest fire time of a job that has been dealt with (run, or skipped as a missed announcement)."""

    __tablename__ = "job_cursors"

    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    community_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_fire: Mapped[datetime] = mapped_column(UTCDateTime())


PENDING, DONE, SKIPPED = "pending", "done", "skipped"


class Timer(Base):
    """A one-off moment (a guest talk's reminder, its start): run once when due, across restarts and processes;
    one caught up after the moment it was for has passed is skipped (and logged)."""

    __tablename__ = "timers"
    __table_args__ = (UniqueConstraint("kind", "ref_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    community_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))           # what to do: a function registered under this name
    ref_id: Mapped[str] = mapped_column(String(64))         # what it is about ("talk:3")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())     # caught up at or after this: skipped
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    ran_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


Index("ix_timers_due", Timer.status, Timer.due_at)
