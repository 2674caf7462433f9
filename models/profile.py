"""Member profiles and their search terms."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime

PROFILE_FIELDS = ("real_name", "company", "city", "title", "industry", "path", "skills", "needs", "interests")


class Profile(Base):
    __tablename__ = "profiles"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    real_name: Mapped[str | None] = mapped_column(String(40))
    company: Mapped[str | None] = mapped_column(String(80))
    city: Mapped[str | None] = mapped_column(String(40))
    title: Mapped[str | None] = mapped_column(String(60))
    industry: Mapped[str | None] = mapped_column(String(60))
    path: Mapped[str | None] = mapped_column(String(200))
    skills: Mapped[str | None] = mapped_column(String(200))
    needs: Mapped[str | None] = mapped_column(String(200))
    interests: Mapped[str | None] = mapped_column(String(200))
    consented_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    def fields(self) -> dict[str, str]:
        return {f: getattr(self, f) for f in PROFILE_FIELDS if getattr(self, f)}


class ProfileTerm(Base):
    """One searchable term of one profile field (exact items and their jieba tokens)."""

    __tablename__ = "profile_terms"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    field: Mapped[str] = mapped_column(String(16), primary_key=True)
    term: Mapped[str] = mapped_column(String(100), primary_key=True)
    community_id: Mapped[str] = mapped_column(String(32))
    exact: Mapped[bool] = mapped_column(default=False)


# Covering the whole search (term -> member, field, exact): no table lookups, rows arrive grouped by member.
Index("ix_profile_terms_lookup", ProfileTerm.community_id, ProfileTerm.term, ProfileTerm.member_id,
      ProfileTerm.field, ProfileTerm.exact)
