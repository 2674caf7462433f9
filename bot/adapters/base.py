"""The platform boundary: what an adapter is and how a send can fail. The neutral events and messages it
speaks in live in bot.events (re-exported here for the adapters)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from bot.events import (
    Capability,
    ChatRef,
    IncomingEvent,
    IncomingMessage,
    JoinEvent,
    LeaveEvent,
    Member,
    MembersEvent,
    MessageKind,
    Outgoing,
)

__all__ = ["Adapter", "AdapterStopped", "Capability", "ChatRef", "IncomingEvent", "IncomingMessage", "JoinEvent",
           "LeaveEvent", "Member", "MembersEvent", "MessageKind", "NotConnected", "OnEvent", "Outgoing", "SendError",
           "Unconfirmed"]


class AdapterStopped(Exception):
    """The platform refused this connection for good (wrong credentials, another instance took over):
    restarting would not help, so the bot stops and says why."""


class SendError(Exception):
    """A send failed. transient=True means a later retry may succeed."""

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


class NotConnected(SendError):
    """The platform connection is down (reconnecting): nothing was sent. The outbox keeps the message waiting
    without counting an attempt, so an outage does not use up its retries."""


class Unconfirmed(SendError):
    """Handed to the platform, which never confirmed it: it may have arrived, so it is not sent again (at most
    once, as everywhere)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=False)


OnEvent = Callable[[IncomingEvent], Awaitable[bool | None]]


class Adapter(Protocol):
    """A chat platform. run() hands each event to on_event, the app's handler, which returns True when a reply
    to that event was queued, False when the bot will not answer it (an unserved group, a redelivery, ordinary chat,
    a command from someone it ignores), and None when it cannot tell. An adapter that holds the platform's request
    open for the reply (WeCom's callback) lets it go at once on False."""

    name: str
    capabilities: frozenset[Capability]

    async def run(self, on_event: OnEvent) -> None: ...

    async def send(self, out: Outgoing) -> None: ...

    async def room_members(self, room_id: str) -> Sequence[Member]: ...

    async def close(self) -> None: ...
