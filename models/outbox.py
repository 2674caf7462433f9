"""Messages waiting to be sent, written in the transaction that caused them."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime

PENDING, SENDING, SENT, FAILED, LOST, SHED = "pending", "sending", "sent", "failed", "lost", "shed"
CANCELLED = "cancelled"         # withdrawn before it was sent (a welcome to someone who left meanwhile)


class OutboxMessage(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chat_key: Mapped[str] = mapped_column(String(140))
    kind: Mapped[str] = mapped_column(String(10), default="say")
    text: Mapped[str] = mapped_column(Text, default="")
    mentions: Mapped[list[str]] = mapped_column(JSON, default=list)
    path: Mapped[str | None] = mapped_column(String(500))
    target: Mapped[str | None] = mapped_column(String(128))     # whom a remove is for; what an image is about
    reply_to: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    purpose: Mapped[str | None] = mapped_column(String(32))
    cause: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(String(300))     # why the last attempt failed
    # The bot account whose process sends it; None (rows from before accounts): whichever process sends.
    account: Mapped[str | None] = mapped_column(String(32))


Index("ix_outbox_status_due", OutboxMessage.status, OutboxMessage.not_before)
Index("ix_outbox_chat_status", OutboxMessage.chat_key, OutboxMessage.status)
