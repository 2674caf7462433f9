"""Growth and what the community keeps: members' tags, invite codes and referrals, promotions to a tier, and
whether a member's talent archive is public."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class MemberTag(Base):
    """A tag a moderator gave a member (tags derived from profiles are read from the profile's terms)."""

    __tablename__ = "member_tags"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(20), primary_key=True)      # lower case, as searched
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    added_by: Mapped[str] = mapped_column(String(128))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())


Index("ix_member_tags_tag", MemberTag.community_id, MemberTag.tag)


class InviteCode(Base):
    """A member's personal invite code (one per member, kept once made)."""

    __tablename__ = "invite_codes"
    __table_args__ = (UniqueConstraint("member_id", name="uq_invite_codes_member_id"),)

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Referral(Base):
    """Who brought whom: from a redeemed code, else from the platform's inviter. Rows refer to roster rows, which
    stay (pseudonymised) when a member deletes their data, so the attribution outlives leaving and deletion."""

    __tablename__ = "referrals"

    invitee_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    inviter_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    source: Mapped[str] = mapped_column(String(10))          # "code" or "platform"
    code: Mapped[str | None] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    rewarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cause: Mapped[str] = mapped_column(String(200))


Index("ix_referrals_inviter", Referral.community_id, Referral.inviter_id)


class Promotion(Base):
    """An owner promoted a member to a tier (the invitation instructions were sent)."""

    __tablename__ = "promotions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    tier: Mapped[str] = mapped_column(String(40))
    promoted_by: Mapped[str] = mapped_column(String(128))
    promoted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cause: Mapped[str] = mapped_column(String(200))


Index("ix_promotions_member", Promotion.member_id, Promotion.tier)


class ArchiveSetting(Base):
    """Whether others may read a member's talent archive (hidden unless they choose otherwise)."""

    __tablename__ = "archive_settings"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
