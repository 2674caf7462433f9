"""What the bot and the platforms say to each other, without any platform in it: the events that come in
(messages, joins, leaves, member lists), where a message goes (ChatRef) and what goes out (Outgoing).

Adapters build these; the dispatcher, the contexts and the handlers read them. Text and names are cleaned as the
events are made (bot.cleaning).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from bot.cleaning import clean


class MessageKind(str, enum.Enum):
    TEXT = "text"
    LINK = "link"
    IMAGE = "image"
    MINI_PROGRAM = "mini_program"
    FILE = "file"
    CONTACT_CARD = "contact_card"     # a shared contact (名片); its text is the name it shows


class Capability(str, enum.Enum):
    SEES_ALL_MESSAGES = "sees_all_messages"   # not only messages that mention the bot
    SEES_JOINS = "sees_joins"                 # join / leave events with inviter
    MEMBER_LIST = "member_list"               # can list a room's members
    CAN_DM = "can_dm"                         # can open a private chat with a member
    CAN_REMOVE = "can_remove"                 # can remove a member from a room
    CAN_SEND_IMAGE = "can_send_image"
    CAN_SEND_FILE = "can_send_file"           # a file (an owner's export) as an attachment
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
    quoted_id: str | None = None        # the message this one replies to, where the platform says
    path: str | None = None             # an image's or a file's path, where the platform gives one
    data: bytes | None = field(default=None, repr=False)    # an image's bytes, where the platform gives them

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
    def from_key(cls, key: str) -> ChatRef:
        kind, _, ident = key.partition(":")
        return cls(room_id=ident) if kind == "room" else cls(user_id=ident)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to send. kind: say (text), image or file (path + caption in text) or remove (user in `target`)."""

    chat: ChatRef
    text: str
    mention_ids: tuple[str, ...] = ()
    kind: str = "say"
    path: str | None = None
    target: str | None = None
    reply_to: dict | None = field(default=None)
