"""The group's ordinary chat as the bot saw it, and each member's activity per day, for digests, activity figures
and lifecycle (never the commands themselves, which live in their own tables)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime

TEXT_LIMIT = 4000               # characters of a message's text kept; the rest is cut (a 1 MB paste stays 4,000)


class ChatMessage(Base):
    """One message from a group's chat: text, or a link, an image, a file or a mini program card as metadata."""

    __tablename__ = "chat_messages"
    __table_args__ = (UniqueConstraint("room_id", "platform_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    room_id: Mapped[str] = mapped_column(String(128))
    platform_id: Mapped[str] = mapped_column(String(128))      # the platform's message id: a redelivery is one row
    sender_id: Mapped[str] = mapped_column(String(128))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")         # a link's or card's title, a file's name
    url: Mapped[str | None] = mapped_column(Text)
    path: Mapped[str | None] = mapped_column(Text)              # an image's or file's path where the platform gives one
    quoted_id: Mapped[str | None] = mapped_column(String(128))  # the message it replies to, where the platform says
    terms: Mapped[str] = mapped_column(Text, default="")        # jieba's words, space separated, for search and digests


Index("ix_chat_messages_room_sent", ChatMessage.room_id, ChatMessage.sent_at)
Index("ix_chat_messages_sender", ChatMessage.community_id, ChatMessage.sender_id, ChatMessage.sent_at)
Index("ix_chat_messages_sent", ChatMessage.sent_at)


class ActivityDay(Base):
    """What one member did on one day (the community's calendar day): messages the bot saw, commands."""

    __tablename__ = "activity_days"

    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    messages: Mapped[int] = mapped_column(Integer, default=0)
    commands: Mapped[int] = mapped_column(Integer, default=0)


Index("ix_activity_days_day", ActivityDay.community_id, ActivityDay.day)
