"""What a handler or a job gets: its transaction, who is speaking where, and named ways to answer, to read the
community's calendar and to reach what the running bot shares (capabilities, the registered commands, its caches).
Everything a handler uses is a member here; the services behind them are the Runtime's, built by bot/app.py."""
from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import i18n, outbox, roster, weeks
from bot.background import Background
from bot.clock import Clock
from bot.commands import CommandTable
from bot.config import CommunityConfig, Config, PacingConfig
from bot.errors import CommandError
from bot.events import Capability, ChatRef, IncomingMessage, JoinEvent, LeaveEvent
from bot.history import ChatRecorder
from bot.llm import ChatModel
from bot.lookups import Lookups
from bot.roles import Role
from bot.tiers import tier_of
from models import Community, Group, Member, OutboxMessage

# "@name" at the start or after whitespace (so an e-mail address is not a mention).
_AT_NAME = re.compile(r"(?<![^\s\u2005\u3000])@([^\s\u2005\u3000@]{1,40})")


def addressed(name: str, text: str) -> str:
    """`text` for one member in a group: it starts by @-mentioning them (the mention id goes with it)."""
    return f"@{name} {text}"


@dataclass
class Runtime:
    """What the running bot shares with every context, the dispatcher and the scheduler; made once by the
    composition root (bot/app.py)."""

    config: Config
    clock: Clock
    sessions: async_sessionmaker[AsyncSession]
    capabilities: frozenset[Capability]
    pacing: PacingConfig
    commands: CommandTable
    lookups: Lookups
    wake: Callable[[], None]
    # One community's commands and jobs run one at a time in this process (across processes the ledger's
    # community lock and the database's own locks keep them apart).
    community_locks: defaultdict[str, asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock))
    # The platform's member list of a room, applied to the roster (the dispatcher's; set by the app).
    refresh_members: Callable[[str], Awaitable[None]] | None = None
    # The groups' ordinary chat, kept behind the commands (set by the app).
    history: ChatRecorder | None = None
    # The LLM endpoint for digest summaries, when config.yaml has one.
    llm: ChatModel | None = None
    # Work a job started that must not hold up the scheduler's round (the LLM's requests).
    background: Background = field(default_factory=Background)
    # What capabilities do when a member deletes their data (the routers' on_forget hooks; set by the app).
    forget_hooks: list[Callable[[BaseCtx, Member], Awaitable[None]]] = field(default_factory=list)

    def community_config(self, community_id: str) -> CommunityConfig:
        return self.config.community(community_id)

    def is_configured(self, community_id: str) -> bool:
        """Communities removed from config.yaml keep their data but are no longer served."""
        return self.config.has_community(community_id)

    def locale_of(self, community_id: str) -> str:
        return self.config.community_locale(self.config.community(community_id))

    async def context(self, db: AsyncSession, community_id: str, *, cause: str,
                      now: datetime | None = None) -> BaseCtx:
        """A plain context for work in `db` on behalf of a community (e.g. a maintenance task)."""
        return BaseCtx(self, db, await self.lookups.community(db, community_id), self.community_config(community_id),
                       now or self.clock.now(), self.locale_of(community_id), cause)


@dataclass
class BaseCtx:
    runtime: Runtime = field(repr=False)      # the shared services behind the named members below
    db: AsyncSession
    community: Community
    ccfg: CommunityConfig
    now: datetime
    locale: str
    cause: str
    after_commit: list[Callable[[], object]] = field(default_factory=list, kw_only=True)
    queued: int = field(default=0, kw_only=True)      # messages queued by this transaction
    # What one transaction reads more than once and does not change meanwhile (e.g. who the ranking leaves out).
    memo: dict[str, Any] = field(default_factory=dict, kw_only=True)

    # ---- words and time ----------------------------------------------------------------------------------

    def t(self, key: str, **params: Any) -> str:
        return i18n.t(self.locale, key, **params)

    @property
    def config(self) -> Config:
        """The bot's settings (the community's own are `ccfg`)."""
        return self.runtime.config

    @property
    def account(self) -> str:
        """The bot account this process runs as (config.yaml's `account`)."""
        return self.runtime.config.account

    @property
    def tz(self) -> ZoneInfo:
        """The community's time zone."""
        return self.runtime.config.community_tz(self.ccfg)

    def week_start(self, at: datetime | None = None) -> datetime:
        """The start of the community's week containing `at` (default now)."""
        return weeks.week_start(at or self.now, self.tz, self.ccfg.week_start)

    def last_completed_week(self, at: datetime | None = None) -> tuple[datetime, datetime]:
        """[start, end) of the community's latest week that ended at or before `at` (default now)."""
        return weeks.last_completed_week(at or self.now, self.tz, self.ccfg.week_start)

    def day(self, at: datetime, *, padded: bool = False) -> str:
        """A day as members read it (12.6; 12/6 in English); `padded` (12.06) where days stand in a column."""
        return weeks.day(at, self.tz, self.locale, padded=padded)

    def date(self, at: datetime) -> str:
        """A date with its year (2026.11.23)."""
        return weeks.date(at, self.tz, self.locale)

    def span(self, start: datetime, *, padded: bool = False) -> str:
        """The week starting at `start` (11.30–12.6; 11.30–12.06 `padded`)."""
        return weeks.span(start, self.tz, self.locale, padded=padded)

    def session_label(self, at: datetime) -> str:
        """A moment with its weekday (11.25（周三）20:00)."""
        return weeks.moment(at, self.tz, self.locale)

    # ---- what the platform and the bot offer ------------------------------------------------------------

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        """Opens transactions of their own, for work after this one commits that must not hold it open (a
        maintenance job deleting in batches)."""
        return self.runtime.sessions

    @property
    def llm(self) -> ChatModel | None:
        """The LLM endpoint for digest summaries (None when config.yaml has none). Never called inside a command's
        transaction: a job calls it after its own commits."""
        return self.runtime.llm

    @property
    def background(self) -> Background:
        """Work to go on after this transaction commits without holding up whoever runs it (see bot.background)."""
        return self.runtime.background

    def can(self, capability: Capability) -> bool:
        return capability in self.runtime.capabilities

    @property
    def commands(self) -> CommandTable:
        """The registered commands (what /help lists)."""
        return self.runtime.commands

    async def group_size(self, group: Group) -> int:
        """Members present in a group (or its configured size), cached."""
        return await self.runtime.lookups.group_size(self.db, group)

    def roles_changed(self) -> None:
        """Role grants changed in this transaction: cached roles are read again once it commits."""
        community_id, lookups = self.community.id, self.runtime.lookups
        self.after_commit.append(lambda: lookups.forget_roles(community_id))

    def group_changed(self, room_id: str) -> None:
        """A group was enabled or disabled in this transaction: read again once it commits."""
        lookups = self.runtime.lookups
        self.after_commit.append(lambda: lookups.forget_group(room_id))

    def forget_chat(self, *, user_id: str | None = None, room_id: str | None = None) -> None:
        """Chat still waiting to be kept is dropped: a member's (who deleted their data) or a group's (whose
        history was turned off or purged); what is stored already is the caller's to delete."""
        history = self.runtime.history
        if history is not None:
            history.forget(self.community.id, user_id=user_id, room_id=room_id, at=self.now)

    async def member_forgotten(self, member: Member) -> None:
        """A member is deleting their data (still under their name): every capability lets go of them."""
        for hook in self.runtime.forget_hooks:
            await hook(self, member)

    def refresh_members(self, room_id: str) -> None:
        """Once this transaction commits, ask the platform for the room's member list (where it has one)."""
        refresh = self.runtime.refresh_members
        if refresh is not None:
            self.after_commit.append(lambda: refresh(room_id))

    # ---- saying things -----------------------------------------------------------------------------------

    async def post(self, chat: ChatRef, text: str, *, mentions: Sequence[str] = (), purpose: str | None = None,
                   not_before: datetime | None = None, reply_to: dict[str, Any] | None = None) -> None:
        """Queue a message in this transaction; it goes out after commit, paced, through the bot account that
        heard what it answers, else the one serving the chat (bot.outbox.enqueue)."""
        self.queued += 1
        await outbox.enqueue(self.db, self.runtime.pacing, chat, text, now=self.now, mentions=mentions,
                             purpose=purpose, cause=self.cause, not_before=not_before, reply_to=reply_to,
                             answering=self.answers(chat))

    def post_image_later(self, chats: Sequence[ChatRef], draw: Callable[[], Awaitable[str | None]], caption: str, *,
                         purpose: str, about: str, failed: str) -> None:
        """Once this transaction commits, make an image with `draw` (slow work, kept out of the transaction so it
        holds no lock meanwhile) and queue it with its caption to each chat, in a transaction of its own; when
        drawing failed (None), `failed` goes to them instead. `about` names what it belongs to (a community id), so
        a notice can follow if the platform refuses it for good. Lost, not doubled, if the process dies before."""
        runtime, cause = self.runtime, self.cause
        answering = [self.answers(chat) for chat in chats]

        async def queue() -> None:
            path = await draw()
            async with runtime.sessions.begin() as db:
                now = runtime.clock.now()
                for chat, answers in zip(chats, answering):
                    if path is None:
                        await outbox.enqueue(db, runtime.pacing, chat, failed, now=now, cause=cause,
                                             answering=answers)
                    else:
                        await outbox.enqueue(db, runtime.pacing, chat, caption, now=now, kind="image", path=path,
                                             target=about, purpose=purpose, cause=cause, answering=answers)
            runtime.wake()

        self.after_commit.append(queue)

    def answers(self, chat: ChatRef) -> bool:
        """Whether a message to `chat` answers what this process heard (the chat it was said in, or the sayer in
        private)."""
        return False

    async def remove_member(self, room_id: str, user_id: str, reason: str) -> None:
        """Queue the removal of a member from a group (the platform must allow it: Capability.CAN_REMOVE); should
        the platform refuse, owners and moderators are told to do it by hand."""
        self.queued += 1
        await outbox.enqueue(self.db, self.runtime.pacing, ChatRef(room_id=room_id), reason, now=self.now,
                             kind="remove", target=user_id, cause=self.cause)
    async def send_file(self, chat: ChatRef, path: str, caption: str) -> None:
        """Queue a file as an attachment (where the platform can send one: Capability.CAN_SEND_FILE)."""
        self.queued += 1
        await outbox.enqueue(self.db, self.runtime.pacing, chat, caption, now=self.now, kind="file", path=path,
                             cause=self.cause, answering=self.answers(chat))

    async def post_key(self, chat: ChatRef, key: str, *, mentions: Sequence[str] = (), **params: Any) -> None:
        await self.post(chat, self.t(key, **params), mentions=mentions)

    async def dm(self, user_id: str, key: str, **params: Any) -> None:
        await self.post_key(ChatRef(user_id=user_id), key, **params)

    async def waiting(self, chat: ChatRef, purpose: str) -> list[OutboxMessage]:
        """Messages queued for `purpose` in `chat` and not sent yet (e.g. a welcome waiting for more joins)."""
        return await outbox.find_pending(self.db, chat, purpose)

    async def rewrite_waiting(self, row: OutboxMessage, text: str, mentions: Sequence[str], *,
                              not_before: datetime | None = None) -> bool:
        """Change a waiting message that is stored whole (and when it goes out, if `not_before` is given); False
        when it would no longer fit or is being sent."""
        return await outbox.rewrite(self.db, self.runtime.pacing, row, text, mentions, not_before=not_before)

    async def withdraw_waiting(self, rows: Sequence[OutboxMessage]) -> bool:
        """Cancel the parts of a waiting message; False, changing nothing, when one is being sent already."""
        return await outbox.withdraw(self.db, rows)


@dataclass
class Ctx(BaseCtx):
    """A command or a message in a chat the bot serves."""

    event: IncomingMessage = field(kw_only=True)
    member: Member = field(kw_only=True)
    group: Group | None = field(default=None, kw_only=True)
    roles: set[Role] = field(default_factory=set, kw_only=True)
    args: str = field(default="", kw_only=True)

    @property
    def is_private(self) -> bool:
        return self.group is None

    def answers(self, chat: ChatRef) -> bool:
        return chat == self.chat or chat.user_id == self.sender_id

    @property
    def chat(self) -> ChatRef:
        return ChatRef(room_id=self.group.room_id) if self.group else ChatRef(user_id=self.event.sender_id)

    @property
    def sender_id(self) -> str:
        return self.event.sender_id

    @property
    def is_owner(self) -> bool:
        return Role.OWNER in self.roles

    def _reply_to(self) -> dict[str, Any] | None:
        if self.event.reply_token is None:
            return None
        return {"event_id": self.event.event_id, "token": self.event.reply_token}

    async def reply_text(self, text: str, *, mentions: Sequence[str] = ()) -> None:
        await self.post(self.chat, text, mentions=mentions, reply_to=self._reply_to())

    async def reply(self, key: str, *, mentions: Sequence[str] = (), **params: Any) -> None:
        """A reply for everyone in the chat (a listing, an announcement)."""
        await self.reply_text(self.t(key, **params), mentions=mentions)

    async def respond(self, key: str, **params: Any) -> None:
        """A reply about the sender (their points, their profile, their mistake): in a group it starts by
        @-mentioning them, so in a busy group they see it is theirs."""
        await self.respond_text(self.t(key, **params))

    async def respond_text(self, text: str) -> None:
        if self.group is None:
            await self.reply_text(text)
        else:
            # The name they go by now (their roster row may just have been renamed: deleting one's data).
            await self.reply_text(addressed(self.event.sender_name or self.sender_id, text), mentions=(self.sender_id,))

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

    event: JoinEvent | LeaveEvent = field(kw_only=True)
    group: Group = field(kw_only=True)
    member: Member | None = field(default=None, kw_only=True)


@dataclass
class JobCtx(BaseCtx):
    """A job run for one community and one period (the fire time it stands for)."""

    period: datetime = field(kw_only=True)
    feature: str | None = field(default=None, kw_only=True)     # the job's (bot.tiers): groups whose tier runs it

    @property
    def late(self) -> bool:
        """Run in a later week than its period (caught up after downtime): "last week" would no longer be true,
        so an announcement names the week by its dates and says it is late."""
        return self.week_start(self.now) > self.week_start(self.period)

    async def groups(self) -> list[Group]:
        """The community's groups this job runs in (all but those whose tier switches its feature off)."""
        rows = await self.db.scalars(select(Group).where(Group.community_id == self.community.id, Group.enabled)
                                     .order_by(Group.room_id))
        return [g for g in rows if self.feature is None or (tier := tier_of(self.ccfg, g)) is None
                or tier.runs(self.feature)]

    async def post_to_groups(self, text: str, mentions: tuple[str, ...] = ()) -> None:
        for group in await self.groups():
            await self.post(ChatRef(room_id=group.room_id), text, mentions=mentions)
