"""Daily check-ins (签到/打卡): one row per member and calendar day of the community, real or covered by a freeze."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class CheckIn(Base):
    """A member's day: checked in (with what they wrote), or a missed day a streak freeze covered (`frozen`)."""

    __tablename__ = "checkins"
    __table_args__ = (UniqueConstraint("community_id", "member_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    day: Mapped[date] = mapped_column(Date)                    # the community's calendar day
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    streak: Mapped[int] = mapped_column(Integer, default=0)    # the streak this day ends (frozen days count)
    points: Mapped[int] = mapped_column(Integer, default=0)    # milestone points reached this day (ranking only)
    text: Mapped[str] = mapped_column(Text, default="")
    cause: Mapped[str] = mapped_column(String(200))


Index("ix_checkins_day", CheckIn.community_id, CheckIn.day)
