"""Group hygiene: the rules and their versions, who acknowledged them, the whitelist, the audit log of
moderation (violations, warnings, removals asked for and done, appeals) and the private notices a member got."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class RulesVersion(Base):
    """One version of a community's rules, one rule a line; version 1 is seeded from config.yaml."""

    __tablename__ = "rules_versions"
    __table_args__ = (UniqueConstraint("community_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    edited_by: Mapped[str | None] = mapped_column(String(128))       # None: from config.yaml
    edited_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RulesAck(Base):
    """A member acknowledged a version of the rules."""

    __tablename__ = "rules_acks"

    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    acked_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WhitelistEntry(Base):
    """A member (kind 'member', value their user id) or a domain (kind 'domain') the anti-spam leaves alone."""

    __tablename__ = "whitelist"

    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    value: Mapped[str] = mapped_column(String(128), primary_key=True)
    added_by: Mapped[str] = mapped_column(String(128))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ModerationAction(Base):
    """One line of the audit log. A removal asked for is `state` pending under its `number` (a batch of idle
    members shares one) until a moderator confirms it (done), it expires, or someone else handled it."""

    __tablename__ = "moderation_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    number: Mapped[int | None] = mapped_column(Integer)             # what /移出 确认 names
    user_id: Mapped[str] = mapped_column(String(128))
    room_id: Mapped[str | None] = mapped_column(String(128))
    rule: Mapped[str] = mapped_column(String(16))        # link, mini_program, contact_card, qr, keyword, flood, ...
    step: Mapped[str] = mapped_column(String(16))        # warn, report, remove, removed, by_hand, appeal, rejoin, ...
    evidence: Mapped[str] = mapped_column(Text, default="")
    repeats: Mapped[int] = mapped_column(Integer, default=0)         # further offences in the same burst
    state: Mapped[str | None] = mapped_column(String(10))            # pending, done, expired (removals only)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    actor_id: Mapped[str | None] = mapped_column(String(128))         # who acted (None: the bot)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_at: Mapped[datetime] = mapped_column(UTCDateTime())          # the burst's latest offence
    handled_by: Mapped[str | None] = mapped_column(String(128))
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


Index("ix_moderation_actions_member", ModerationAction.community_id, ModerationAction.user_id,
      ModerationAction.created_at)
Index("ix_moderation_actions_number", ModerationAction.community_id, ModerationAction.number)


class MemberNotice(Base):
    """Private notices of one kind a member got (nickname suggestions, idle nudges): how many, the latest when."""

    __tablename__ = "member_notices"

    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime())
