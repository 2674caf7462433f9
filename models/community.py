"""A community, its groups, its roster of members and the roles they hold."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class Community(Base):
    __tablename__ = "communities"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Group(Base):
    """A room the bot serves for a community (from config.yaml or enabled from chat)."""

    __tablename__ = "groups"

    room_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    name: Mapped[str | None] = mapped_column(String(100))
    size_hint: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(10), default="config")
    enabled_by: Mapped[str | None] = mapped_column(String(128))
    enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Whether its ordinary chat is kept (/记录 开|关): on unless an owner turned it off.
    history: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # The bot account (process) serving it, when several share the database; None: the only one.
    account: Mapped[str | None] = mapped_column(String(32))
    # Its tier (config.yaml's tiers) when enabled from chat; a group listed in config.yaml takes its tier there.
    tier: Mapped[str | None] = mapped_column(String(40))


class RoomMember(Base):
    """Who is in which room, as the platform last told us."""

    __tablename__ = "room_members"

    room_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    present: Mapped[bool] = mapped_column(Boolean, default=True)
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Member(Base):
    """One person in a community's roster. After deletion the row stays, pseudonymised, for ledgers."""

    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("community_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    user_id: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str] = mapped_column(String(100))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    invited_by: Mapped[str | None] = mapped_column(String(128))
    last_active_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime())   # in a group's chat, as the bot saw it
    last_command_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


Index("ix_members_community_joined", Member.community_id, Member.joined_at)
Index("ix_members_community_name", Member.community_id, Member.display_name)


class RoleGrant(Base):
    __tablename__ = "role_grants"

    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    source: Mapped[str] = mapped_column(String(10), default="chat")
    granted_by: Mapped[str | None] = mapped_column(String(128))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())


class HeardBy(Base):
    """Which bot account heard from a user last (of the processes sharing the database), and since when: a private
    message that answers nothing they said goes out through it. Per user id, as private chats are."""

    __tablename__ = "heard_by"

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    account: Mapped[str] = mapped_column(String(32))
    heard_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DmChoice(Base):
    """Which community a member's private messages belong to, when they are in several."""

    __tablename__ = "dm_choices"

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
