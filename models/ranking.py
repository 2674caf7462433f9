"""The weekly result: each scorer's lines, place and payout, frozen when the week is paid; all-time totals."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class WeeklyResult(Base):
    __tablename__ = "weekly_results"

    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    week: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)      # the week's start
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    place: Mapped[int] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer)
    best_answers: Mapped[int] = mapped_column(Integer)
    helped: Mapped[int] = mapped_column(Integer)
    digest_answers: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)          # fen; 0 when the pool was empty
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    cause: Mapped[str] = mapped_column(String(200))


class ScoreTotal(Base):
    """A member's score lines summed over every frozen week (the all-time ranking adds the current week live)."""

    __tablename__ = "score_totals"

    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    points: Mapped[int] = mapped_column(Integer, default=0)
    best_answers: Mapped[int] = mapped_column(Integer, default=0)
    helped: Mapped[int] = mapped_column(Integer, default=0)
    digest_answers: Mapped[int] = mapped_column(Integer, default=0)
    weeks: Mapped[int] = mapped_column(Integer, default=0)
