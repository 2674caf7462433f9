"""Scheduled job bookkeeping: each (job, community, period) runs once; a cursor per job for catch-up."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint
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
