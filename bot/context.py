"""What a handler gets: the transaction, who is speaking where, and ways to answer."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from bot import i18n, outbox, roster, weeks
from bot.adapters.base import Capability, ChatRef, IncomingMessage, JoinEvent, LeaveEvent
from bot.config import CommunityConfig
from bot.errors import CommandError
from bot.roles import Role
from models import Community, Group, Member

if TYPE_CHECKING:
    from bot.app import App
    from bot.router import CommandSpec

# "@name" at the start or after whitespace (so an e-mail address is not a mention).
_AT_NAME = re.compile(r"(?<![^\s\u2005\u3000])@([^\s\u2005\u3000@]{1,40})")


@dataclass
class BaseCtx:
    app: "App"
    db: AsyncSession
    community: Community
    ccfg: CommunityConfig
    now: datetime
    locale: str
    cause: str
    after_commit: list[Callable[[], None]] = field(default_factory=list, kw_only=True)
    queued: int = field(default=0, kw_only=True)      # messages queued by this transaction

    def t(self, key: str, **params: Any) -> str:
        return i18n.t(self.locale, key, **params)

    def week_start(self, at: datetime | None = None) -> datetime:
        """The start of the community's week containing `at` (default now)."""
        return weeks.week_start(at or self.now, self.app.config.community_tz(self.ccfg), self.ccfg.week_start)

    def last_completed_week(self, at: datetime | None = None) -> tuple[datetime, datetime]:
        """[start, end) of the community's latest week that ended at or before `at` (default now)."""
        return weeks.last_completed_week(at or self.now, self.app.config.community_tz(self.ccfg),
                                         self.ccfg.week_start)

    def can(self, capability: Capability) -> bool:
        return capability in self.app.adapter.capabilities

    async def post(self, chat: ChatRef, text: str, *, mentions: Sequence[str] = (), purpose: str | None = None,
                   not_before: datetime | None = None, reply_to: dict | None = None) -> None:
        """Queue a message in this transaction; it goes out after commit, paced."""
        self.queued += 1
        await outbox.enqueue(self.db, self.app.pacing, chat, text, now=self.now, mentions=mentions,
                             purpose=purpose, cause=self.cause, not_before=not_before, reply_to=reply_to)

    async def post_key(self, chat: ChatRef, key: str, *, mentions: Sequence[str] = (), **params: Any) -> None:
        await self.post(chat, self.t(key, **params), mentions=mentions)

    async def dm(self, user_id: str, key: str, **params: Any) -> None:
        await self.post_key(ChatRef(user_id=user_id), key, **params)


@dataclass
class Ctx(BaseCtx):
    """A command or a message in a chat the bot serves."""

    event: IncomingMessage = None  # type: ignore[assignment]
    member: Member = None  # type: ignore[assignment]
    group: Group | None = None
    roles: set[Role] = field(default_factory=set)
    command: "CommandSpec | None" = None
    args: str = ""

    @property
    def is_private(self) -> bool:
        return self.group is None

    @property
    def chat(self) -> ChatRef:
        return ChatRef(room_id=self.group.room_id) if self.group else ChatRef(user_id=self.event.sender_id)

    @property
    def sender_id(self) -> str:
        return self.event.sender_id

    @property
    def is_owner(self) -> bool:
        return Role.OWNER in self.roles

    def _reply_to(self) -> dict | None:
        if self.event.reply_token is None:
            return None
        return {"event_id": self.event.event_id, "token": self.event.reply_token}

    async def reply_text(self, text: str, *, mentions: Sequence[str] = ()) -> None:
        await self.post(self.chat, text, mentions=mentions, reply_to=self._reply_to())

    async def reply(self, key: str, *, mentions: Sequence[str] = (), **params: Any) -> None:
        await self.reply_text(self.t(key, **params), mentions=mentions)

    @property
    def args_without_mentions(self) -> str:
        """The arguments with @name tokens removed."""
        return re.sub(r"[ \t\u2005\u3000]{2,}", " ", _AT_NAME.sub("", self.args)).strip()

    def typed_names(self) -> list[str]:
        return _AT_NAME.findall(self.args)

    async def mentioned_members(self) -> list[Member]:
        """The people the command @-mentions, from the platform's mention ids, else by the names typed.

        Raises CommandError when a name is unknown or ambiguous, or someone is not in this group.
        """
        ids = list(dict.fromkeys(self.event.mention_ids))
        found: list[Member] = []
        if ids:
            by_user = await roster.members_by_user(self.db, self.community.id, ids)
            for uid in ids:
                member = by_user.get(uid)
                if member is None or (self.group and not await roster.in_room(self.db, self.group.room_id, uid)):
                    raise CommandError("common.not_in_group", name=self._typed_name_for(uid, len(found)))
                found.append(member)
            return found
        for name in self.typed_names():
            matches = await roster.find_by_name(self.db, self.community.id, name,
                                                real_names=not self.can(Capability.MENTION_IDS))
            if self.group:
                matches = [m for m in matches if await roster.in_room(self.db, self.group.room_id, m.user_id)]
            if not matches:
                raise CommandError("common.not_in_group", name=name)
            if len(matches) > 1:
                raise CommandError("common.ambiguous_name", name=name, count=len(matches))
            found.append(matches[0])
        return found

    def _typed_name_for(self, uid: str, index: int) -> str:
        names = self.typed_names()
        return names[index] if index < len(names) else uid


@dataclass
class EventCtx(BaseCtx):
    """A join or leave in a group the bot serves."""

    event: JoinEvent | LeaveEvent = None  # type: ignore[assignment]
    group: Group = None  # type: ignore[assignment]
    member: Member | None = None
