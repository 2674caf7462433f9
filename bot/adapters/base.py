"""The platform boundary: neutral events in, neutral messages out."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Awaitable, Callable, Protocol, Sequence

from bot.cleaning import clean


class MessageKind(str, enum.Enum):
    TEXT = "text"
    LINK = "link"
    IMAGE = "image"
    MINI_PROGRAM = "mini_program"
    FILE = "file"


class Capability(str, enum.Enum):
    SEES_ALL_MESSAGES = "sees_all_messages"   # not only messages that mention the bot
    SEES_JOINS = "sees_joins"                 # join / leave events with inviter
    MEMBER_LIST = "member_list"               # can list a room's members
    CAN_DM = "can_dm"                         # can open a private chat with a member
    CAN_REMOVE = "can_remove"                 # can remove a member from a room
    CAN_SEND_IMAGE = "can_send_image"
    MENTION_IDS = "mention_ids"               # says whom a message @-mentions (by id)


@dataclass(frozen=True, slots=True)
class Member:
    user_id: str
    name: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", clean(self.name, multiline=False))


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One chat message as the platform delivered it.

    room_id: the group it was posted in, None for a private message to the bot.
    sender_name: the sender's current group nickname (or contact name in private chat).
    mention_ids: user ids the platform says the message @-mentions (the bot's own id excluded).
    reply_token: what the platform needs to answer this very message (WeCom req_id), if anything.

    Text and names are cleaned on arrival (bot.cleaning): a text message keeps its line breaks; a link's title or a
    file's name, like every name, is one line.
    """

    event_id: str
    room_id: str | None
    sender_id: str
    sender_name: str
    text: str
    sent_at: datetime
    kind: MessageKind = MessageKind.TEXT
    mention_ids: tuple[str, ...] = ()
    url: str | None = None
    reply_token: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", clean(self.text, multiline=self.kind == MessageKind.TEXT))
        object.__setattr__(self, "sender_name", clean(self.sender_name, multiline=False))


@dataclass(frozen=True, slots=True)
class JoinEvent:
    event_id: str
    room_id: str
    user_id: str
    name: str
    at: datetime
    inviter_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", clean(self.name, multiline=False))


@dataclass(frozen=True, slots=True)
class LeaveEvent:
    event_id: str
    room_id: str
    user_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class MembersEvent:
    """The platform's full member list of a room at `at`."""

    event_id: str
    room_id: str
    members: tuple[Member, ...]
    at: datetime


IncomingEvent = IncomingMessage | JoinEvent | LeaveEvent | MembersEvent


@dataclass(frozen=True, slots=True)
class ChatRef:
    """Where a message goes: a room, or a private chat with one user."""

    room_id: str | None = None
    user_id: str | None = None

    @property
    def key(self) -> str:
        return f"room:{self.room_id}" if self.room_id is not None else f"user:{self.user_id}"

    @classmethod
    def from_key(cls, key: str) -> "ChatRef":
        kind, _, ident = key.partition(":")
        return cls(room_id=ident) if kind == "room" else cls(user_id=ident)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to send. kind: say (text), image (path + caption in text) or remove (user in `target`)."""

    chat: ChatRef
    text: str
    mention_ids: tuple[str, ...] = ()
    kind: str = "say"
    path: str | None = None
    target: str | None = None
    reply_to: dict | None = field(default=None)


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
