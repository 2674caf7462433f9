"""From platform event to handler: community, idempotency, permissions, one transaction, containment."""
from __future__ import annotations

import difflib
import inspect
import logging
from collections import OrderedDict, defaultdict, deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox, roster
from bot.cleaning import clean
from bot.commands import CommandSpec
from bot.config import CommunityConfig
from bot.context import Ctx, EventCtx, Runtime, addressed
from bot.errors import CommandError
from bot.events import (
    Capability,
    ChatRef,
    IncomingEvent,
    IncomingMessage,
    JoinEvent,
    LeaveEvent,
    MembersEvent,
    MessageKind,
)
from bot.events import Member as PlatformMember
from bot.i18n import t
from bot.roles import STAFF, Role, allowed
from bot.router import ParsedCommand, Router, parse_command
from bot.spam import Finding, SpamWatch
from bot.tiers import feature_of, runs_in, template_args, tier_of
from models import Community, DmChoice, Flow, Group, Member, ProcessedEvent, RoleGrant
from models.base import table
from models.db import met_another_transaction

log = logging.getLogger("qunbot.dispatch")
# Built once: the statements every command runs are compiled from SQLAlchemy's cache, not rebuilt each time.
_CLAIM = insert(table(ProcessedEvent))
UNBOUND_COMMANDS = {"enable", "whoami"}     # may be used in a room the bot does not serve yet
CONFLICT_ATTEMPTS = 3               # a transaction that met a concurrent write is run again, this many times in all
T = TypeVar("T")


class _Duplicate(Exception):
    """The event id was handled before: a redelivery."""


class RateLimiter:
    """At most `limit` commands per `window` per user; one notice when the limit is first hit. A user whose window
    has passed is forgotten, so only the members active lately are held in memory."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = timedelta(seconds=window)
        self._hits: dict[str, deque[datetime]] = defaultdict(deque)
        self._noticed: dict[str, datetime] = {}
        self._seen: OrderedDict[str, datetime] = OrderedDict()     # when each user was last checked, oldest first

    @property
    def remembered(self) -> int:
        """How many users it holds now."""
        return len(self._seen)

    def check(self, user_id: str, now: datetime) -> str:
        """'ok', 'notice' (refuse and say so once) or 'quiet' (refuse silently)."""
        # The oldest first, each once after it was last seen: O(1) amortised. Forgetting changes no answer: all
        # their hits and their notice have left the window.
        while self._seen and now - next(iter(self._seen.values())) >= self.window:
            idle, _ = self._seen.popitem(last=False)
            self._hits.pop(idle, None)
            self._noticed.pop(idle, None)
        self._seen[user_id] = now
        self._seen.move_to_end(user_id)
        hits = self._hits[user_id]
        while hits and now - hits[0] >= self.window:
            hits.popleft()
        if len(hits) < self.limit:
            hits.append(now)
            return "ok"
        noticed = self._noticed.get(user_id)
        if noticed is not None and now - noticed < self.window:
            return "quiet"
        self._noticed[user_id] = now
        return "notice"


class Dispatcher:
    def __init__(self, runtime: Runtime, routers: Sequence[Router],
                 room_members: Callable[[str], Awaitable[Sequence[PlatformMember]]]) -> None:
        self.rt = runtime
        self.commands = runtime.commands
        self.room_members = room_members      # the platform's member list of a room
        self.joins = [h for r in routers for h in r.joins]
        self.leaves = [h for r in routers for h in r.leaves]
        self.texts = [h for r in routers for h in r.texts]
        self.violations = [h for r in routers for h in r.violations]
        self.spam = SpamWatch()
        rl = runtime.config.rate_limit
        # Staff do the group's bookkeeping in bursts (a treasurer entering the week's fees): they are held only to
        # a far higher safety limit, in a limiter of their own.
        self.rate: RateLimiter | None = RateLimiter(rl.commands, rl.per_seconds) if rl.enabled else None
        self.staff_rate: RateLimiter | None = (RateLimiter(rl.staff_commands, rl.staff_per_seconds)
                                               if rl.enabled else None)
        self._locks = runtime.community_locks   # shared with the scheduler: one community's writes never interleave
        self._seen: dict[tuple[str, str], str] = {}
        self._unserved_told: set[str] = set()     # rooms whose ignored messages were logged (once each)
        self._elsewhere_told: set[str] = set()    # rooms served by another account, logged once each
        self.lookups = runtime.lookups

    # ---- entry point -------------------------------------------------------------------------------------

    async def handle(self, event: IncomingEvent) -> bool:
        """Handle one platform event; True when something was queued in answer to it (an adapter that answers a
        request in place, such as WeCom's callback, need not wait for a reply on False)."""
        try:
            if isinstance(event, IncomingMessage):
                return await self._message(event)
            if isinstance(event, (JoinEvent, LeaveEvent)):
                await self._membership(event)
            elif isinstance(event, MembersEvent):
                await self._members(event)
        except Exception:
            log.exception("event %s could not be handled", getattr(event, "event_id", "?"))
        return False

    async def _transact(self, community_id: str, what: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `work` in one transaction, holding the community's lock. A transaction that met a concurrent write
        (another bot process wrote the same rows first, or SQLite's write lock was held past its timeout) is
        rolled back whole, replies included, and run again; after the last attempt the error propagates."""
        async with self._locks[community_id]:
            for attempt in range(1, CONFLICT_ATTEMPTS + 1):
                try:
                    async with self.rt.sessions.begin() as db:
                        return await work(db)
                except DBAPIError as exc:
                    if attempt == CONFLICT_ATTEMPTS or not met_another_transaction(exc):
                        raise
                    log.warning("%s met a concurrent write (%s); retrying", what, type(exc.orig).__name__)
        raise AssertionError("unreachable")

    # ---- lookups -----------------------------------------------------------------------------------------

    def community_config(self, community_id: str) -> CommunityConfig:
        return self.rt.community_config(community_id)

    async def refresh_members(self, room_id: str) -> None:
        """Sync a room's roster from the platform's member list, where the platform has one."""
        if Capability.MEMBER_LIST not in self.rt.capabilities:
            return
        try:
            members = await self.room_members(room_id)
        except Exception:
            log.exception("could not list the members of %s", room_id)
            return
        if members:
            now = self.rt.clock.now()
            await self._members(MembersEvent(f"members:{room_id}:{now.isoformat()}", room_id, tuple(members), now))

    async def _claim(self, db: AsyncSession, event_id: str) -> None:
        """Record the event id in this transaction; a redelivery fails here with _Duplicate (one INSERT)."""
        try:
            await db.execute(_CLAIM, {"event_id": event_id, "handled_at": self.rt.clock.now()})
        except IntegrityError:
            raise _Duplicate(event_id) from None

    # ---- messages ----------------------------------------------------------------------------------------

    async def _message(self, event: IncomingMessage) -> bool:
        parsed = parse_command(event.text) if event.kind == MessageKind.TEXT else None
        if (parsed is None and event.kind == MessageKind.TEXT and event.room_id is not None
                and Capability.SEES_ALL_MESSAGES in self.rt.capabilities
                and (worded := self.commands.by_word(clean(event.text))) is not None):
            parsed = ParsedCommand(worded.name, "")      # a bare 签到 in a group the bot hears in full
        group: Group | None = None
        if event.room_id is not None:
            group = await self.lookups.served_group(event.room_id)
            if group is not None and not self._served_here(group):
                return False
            community_id = group.community_id if group is not None else None
        else:
            async with self.rt.sessions() as db:
                community_id, answered = await self._dm_community(db, event, parsed)
            if community_id is None:
                return answered
        if event.room_id is not None and group is None:
            spec = self.commands.get(parsed.name) if parsed else None
            if parsed is not None and spec is not None and spec.name in UNBOUND_COMMANDS:
                return await self._unbound(event, parsed)
            self._tell_unserved(event.room_id)
            return False
        if community_id is None:
            return False
        if self.rt.history is not None:
            self.rt.history.heard(event.sender_id, self.rt.clock.now())
        if parsed is not None:
            return await self._command(event, parsed, community_id, group)
        return await self._chat(event, community_id, group)

    def _served_here(self, group: Group) -> bool:
        """Whether this process serves the group: its account's, or any (None) when it names none. Another
        account's group is left to its process, said once per room in the log."""
        if group.account is None or group.account == self.rt.config.account:
            return True
        if group.room_id not in self._elsewhere_told:
            self._elsewhere_told.add(group.room_id)
            log.info("leaving room %s to the bot account %s, which serves it (this process is %s; logged once per "
                     "room)", group.room_id, group.account, self.rt.config.account)
        return False

    def _tell_unserved(self, room_id: str) -> None:
        """Say once per room, in the log, that its messages are ignored and how to serve it."""
        if room_id not in self._unserved_told:
            self._unserved_told.add(room_id)
            log.info("ignoring messages in room %s: no community serves it (logged once per room). To serve it, add "
                     "`- room: %s` under a community's groups: in the config file and restart, or have an owner send "
                     "/启用 (/enable) in that room", room_id, room_id)

    async def _dm_community(self, db: AsyncSession, event: IncomingMessage,
                            parsed: ParsedCommand | None) -> tuple[str | None, bool]:
        """The community a private message belongs to (and False), or None and whether the bot answered: it
        asks a member of several communities which one they mean."""
        # In a fixed order: the first one's language is the question's (on PostgreSQL, rows without ORDER BY come
        # in whatever order their last updates left them).
        ids = [cid for cid in await db.scalars(select(Member.community_id).where(Member.user_id == event.sender_id)
                                                .order_by(Member.community_id))
               if self.rt.is_configured(cid)]
        if len(ids) != 1 and parsed is not None and self.commands.get(parsed.name) is self.commands.get("whoami"):
            # No community needed: a user id is what one needs to become an owner in the first place.
            return None, await self._answer_once(event, None, self.rt.locale_of(ids[0]) if ids else
                                                 self.rt.config.locale, "whoami.user", id=event.sender_id)
        if not ids:
            if parsed is not None:
                return None, await self._answer_once(event, None, self.rt.config.locale, "common.not_member")
            return None, False
        if len(ids) == 1:
            return ids[0], False
        if parsed is not None and self.commands.get(parsed.name) is self.commands.get("use"):
            return None, await self._choose(event, parsed, ids)
        if parsed is None:   # an answer to a private signup question belongs to that flow's community
            flows = list(await db.scalars(select(Flow.community_id).where(
                Flow.user_id == event.sender_id, Flow.chat_key == ChatRef(user_id=event.sender_id).key)))
            if len(flows) == 1 and flows[0] in ids:
                return flows[0], False
        choice = await db.get(DmChoice, event.sender_id)
        if choice is not None and choice.community_id in ids:
            return choice.community_id, False
        names = await self._community_list(db, ids)
        return None, await self._answer_once(event, None, self.rt.locale_of(ids[0]), "common.which_community",
                                             communities=names)

    async def _community_list(self, db: AsyncSession, ids: list[str]) -> str:
        rows = await db.scalars(select(Community).where(Community.id.in_(ids)).order_by(Community.id))
        return "\n".join(t(self.rt.locale_of(c.id), "common.community_line", id=c.id, name=c.name) for c in rows)

    async def _choose(self, event: IncomingMessage, parsed: ParsedCommand, ids: list[str]) -> bool:
        """/use <community id> in private chat, by a member of several communities."""
        wanted = parsed.args.strip().lower()
        async with self.rt.sessions() as db:
            if wanted not in ids:
                names = await self._community_list(db, ids)
                return await self._answer_once(event, None, self.rt.locale_of(ids[0]), "common.which_community",
                                               communities=names)
            community = await db.get_one(Community, wanted)
        async with self.rt.sessions.begin() as db:
            choice = await db.get(DmChoice, event.sender_id)
            if choice is None:
                db.add(DmChoice(user_id=event.sender_id, community_id=wanted))
            else:
                choice.community_id = wanted
        locale = self.rt.locale_of(wanted)
        return await self._answer_once(event, None, locale, "common.community_chosen", name=community.name)

    async def _unbound(self, event: IncomingMessage, parsed: ParsedCommand) -> bool:
        """/enable in a room not served yet: only owners are answered; everyone else is ignored. /whoami there
        names the room (whoever asks: whoever deploys the bot needs the id before any community has the room)."""
        assert event.room_id is not None
        if self.commands.get(parsed.name) is self.commands.get("whoami"):
            locale = self.rt.config.locale
            text = "\n".join(t(locale, key, room_id=event.room_id)
                             for key in ("whoami.group", "whoami.unserved", "whoami.user_ask"))
            return await self._say_once(event, event.room_id, text)
        async with self.rt.sessions() as db:
            owned = [c.id for c in self.rt.config.communities if event.sender_id in c.owners]
            owned += list(await db.scalars(select(RoleGrant.community_id).where(
                RoleGrant.user_id == event.sender_id, RoleGrant.role == Role.OWNER.value)))
            owned = sorted({cid for cid in owned if self.rt.is_configured(cid)})
            if not owned:
                return False
            # "/启用 模板 <群名>" names a group to copy, not a community.
            wanted = "" if template_args(parsed.args) is not None else parsed.args.strip().lower()
            if wanted in owned:
                owned = [wanted]
            if len(owned) > 1 or (wanted and wanted not in owned):
                names = await self._community_list(db, owned)
                return await self._answer_once(event, None, self.rt.locale_of(owned[0]), "enable.which",
                                               communities=names)
        return await self._command(event, parsed, owned[0], None, unbound=True)

    def _note_command(self, community_id: str, event: IncomingMessage) -> None:
        """A command counts towards its sender's activity (kept with the chat, behind the commands)."""
        if self.rt.history is not None:
            self.rt.history.note_command(community_id, event.sender_id, self.rt.clock.now())

    async def _chat(self, event: IncomingMessage, community_id: str, group: Group | None) -> bool:
        """Ordinary chat: kept (where the group keeps it, behind the commands); keep the roster fresh; give it to
        flows (private chat, or group fallback)."""
        if group is not None and group.history and self.rt.history is not None:
            self.rt.history.add(event, community_id)
        finding = await self._screen(event, community_id, group)
        needs_flow = group is None or Capability.CAN_DM not in self.rt.capabilities
        key = (event.room_id or "", event.sender_id)
        if finding is None and not needs_flow and self._seen.get(key) == event.sender_name:
            return False
        if needs_flow:
            async with self.rt.sessions() as db:
                if not await db.scalar(select(Flow.id).where(Flow.community_id == community_id,
                                                             Flow.user_id == event.sender_id)):
                    needs_flow = False
                    if group is None:   # a private message that answers nothing: say what the bot does
                        return await self._answer_once(event, None, self.rt.locale_of(community_id),
                                                       "common.dm_hint",
                                                       community=self.community_config(community_id).name)

        async def work(db: AsyncSession) -> Ctx:
            if needs_flow or finding is not None:
                await self._claim(db, event.event_id)
            ctx = await self._ctx(db, event, community_id, group)
            if finding is not None:
                for violation in self.violations:
                    await violation(ctx, finding)
            if needs_flow:
                for hook in self.texts:
                    if await hook(ctx):
                        break
            return ctx

        locale = self.rt.locale_of(community_id)
        try:
            ctx = await self._transact(community_id, f"message {event.event_id}", work)
        except _Duplicate:
            return False
        except CommandError as err:
            return await self._answer_once(event, group, locale, err.key, **err.params)
        except Exception:
            log.exception("message %s could not be handled", event.event_id)
            return await self._answer_once(event, group, locale, "common.apology")
        self._seen[key] = event.sender_name
        self.rt.wake()
        return ctx.queued > 0

    async def _screen(self, event: IncomingMessage, community_id: str, group: Group | None) -> Finding | None:
        """What the anti-spam finds wrong with a group message, where the community switched it on and the
        platform shows the bot every message."""
        if group is None or not self.violations or Capability.SEES_ALL_MESSAGES not in self.rt.capabilities:
            return None
        cfg = self.community_config(community_id).hygiene.spam
        if not cfg.enabled:
            return None
        try:
            return await self.spam.inspect(event, community_id, cfg, self.rt.clock.now())
        except Exception:
            log.exception("message %s could not be checked for spam", event.event_id)
            return None

    async def _ctx(self, db: AsyncSession, event: IncomingMessage, community_id: str, group: Group | None,
                   args: str = "") -> Ctx:
        now = self.rt.clock.now()
        community = await self.lookups.community(db, community_id)
        member = await roster.touch(db, community_id, event.sender_id, event.sender_name, now,
                                    room_id=group.room_id if group else None)
        return Ctx(runtime=self.rt, db=db, community=community, ccfg=self.community_config(community_id), now=now,
                   locale=self.rt.locale_of(community_id), cause=event.event_id, event=event, member=member,
                   group=group, roles=await self.lookups.roles_of(db, community_id, event.sender_id), args=args)

    async def _command(self, event: IncomingMessage, parsed: ParsedCommand, community_id: str,
                       group: Group | None, *, unbound: bool = False) -> bool:
        locale = self.rt.locale_of(community_id)
        found = self.commands.resolve(parsed.name, parsed.args)     # a sub-command (/基金 入账) is routed to itself
        verdict = await self._rate_verdict(event, community_id)
        if verdict != "ok":
            if verdict == "notice":
                return await self._answer_once(event, group, locale, "common.rate_limited", record=False)
            return False
        if found is None:
            return await self._unknown(event, parsed, group, locale)
        spec, args = found

        async def work(db: AsyncSession) -> Ctx:
            await self._claim(db, event.event_id)
            ctx = await self._ctx(db, event, community_id, group, args)
            if unbound:
                ctx.roles.add(Role.OWNER)   # _unbound checked ownership of this community
            self._check(spec, ctx, parsed.name)
            await spec.handler(ctx)
            return ctx

        try:
            ctx = await self._transact(community_id, f"command /{parsed.name} in message {event.event_id}", work)
        except _Duplicate:
            log.info("event %s was redelivered; ignored", event.event_id)
            return False
        except CommandError as err:
            self._note_command(community_id, event)
            return await self._answer_once(event, group, locale, err.key, **err.params)
        except Exception:
            log.exception("command /%s in message %s failed", parsed.name, event.event_id)
            return await self._answer_once(event, group, locale, "common.apology")
        self._note_command(community_id, event)
        for callback in ctx.after_commit:
            # After-commit work may take the community's lock itself (e.g. a member list sync).
            result = callback()
            if inspect.isawaitable(result):
                await result
        self.rt.wake()
        return ctx.queued > 0

    def _check(self, spec: CommandSpec, ctx: Ctx, typed: str) -> None:
        if spec.in_group and ctx.is_private:
            raise CommandError("common.group_only", command=spec.name)
        if spec.private and not ctx.is_private:
            raise CommandError("common.private_only", command=spec.name)
        if not allowed(spec.role, ctx.roles):
            raise CommandError("common.forbidden", role=ctx.t(f"role.{spec.role.value}"))
        if not spec.multiline and "\n" in ctx.args:
            raise CommandError("common.one_line", command=typed)
        if ctx.group is not None and (tier := tier_of(ctx.ccfg, ctx.group)) is not None \
                and not tier.runs(feature_of(spec.handler)):
            raise CommandError("tier.disabled", command=typed, tier=tier.name)

    async def _unknown(self, event: IncomingMessage, parsed: ParsedCommand, group: Group | None,
                       locale: str) -> bool:
        close = difflib.get_close_matches(parsed.name, self.commands.names, n=1, cutoff=0.6)
        if close:
            return await self._answer_once(event, group, locale, "common.unknown_close", command=parsed.name,
                                           suggestion=close[0])
        return await self._answer_once(event, group, locale, "common.unknown", command=parsed.name)

    async def _rate_verdict(self, event: IncomingMessage, community_id: str) -> str:
        """The rate limiter's word on this command: staff answer to their own, far higher limit."""
        if self.rate is None or self.staff_rate is None:
            return "ok"
        roles = self.lookups.cached_roles(community_id, event.sender_id)
        if roles is None:
            async with self.rt.sessions() as db:      # roles come from config.yaml and a cached grant table
                roles = await self.lookups.roles_of(db, community_id, event.sender_id)
        limiter = self.staff_rate if roles & STAFF else self.rate
        return limiter.check(event.sender_id, self.rt.clock.now())

    async def _answer_once(self, event: IncomingMessage, group: Group | None, locale: str, key: str, *,
                           record: bool = True, mentions: tuple[str, ...] = (), **params: Any) -> bool:
        """Reply to the sender with one locale text (in a group it @-mentions them), marking the event handled so
        a redelivery does not answer twice; False when it was a redelivery."""
        return await self._say_once(event, group.room_id if group else None, t(locale, key, **params),
                                    record=record, mentions=mentions)

    async def _say_once(self, event: IncomingMessage, room_id: str | None, text: str, *, record: bool = True,
                        mentions: tuple[str, ...] = ()) -> bool:
        """`text` to the sender, in the room or in private; see _answer_once."""
        chat = ChatRef(room_id=room_id) if room_id else ChatRef(user_id=event.sender_id)
        reply_to = {"event_id": event.event_id, "token": event.reply_token} if event.reply_token else None
        if room_id is not None:
            text, mentions = addressed(event.sender_name or event.sender_id, text), (event.sender_id, *mentions)
        try:
            async with self.rt.sessions.begin() as db:
                if record:
                    await self._claim(db, event.event_id)
                await outbox.enqueue(db, self.rt.pacing, chat, text,
                                     now=self.rt.clock.now(), mentions=mentions, cause=event.event_id,
                                     reply_to=reply_to, answering=True)
        except _Duplicate:
            return False
        self.rt.wake()
        return True

    # ---- joins, leaves, member lists ---------------------------------------------------------------------

    async def _membership(self, event: JoinEvent | LeaveEvent) -> None:
        group = await self.lookups.served_group(event.room_id)
        if group is None or not self._served_here(group):
            return
        community_id = group.community_id

        async def work(db: AsyncSession) -> None:
            await self._claim(db, event.event_id)
            now = self.rt.clock.now()
            if isinstance(event, JoinEvent):
                member = await roster.record_join(db, community_id, event.room_id, event.user_id, event.name,
                                                  event.inviter_id, now)
                await self._hooks(db, group, event, member, self.joins, now)
            else:
                await roster.record_leave(db, event.room_id, event.user_id, now)
                await self._hooks(db, group, event, await roster.get_member(db, community_id, event.user_id),
                                  self.leaves, now)

        try:
            await self._transact(community_id, f"{type(event).__name__} {event.event_id}", work)
        except _Duplicate:
            return
        except Exception:
            log.exception("%s %s could not be handled", type(event).__name__, event.event_id)
        self._seen.pop((event.room_id, event.user_id), None)
        self.lookups.forget_size(event.room_id)
        self.rt.wake()

    async def _hooks(self, db: AsyncSession, group: Group, event: JoinEvent | LeaveEvent, member: Member | None,
                     hooks: list, now: datetime) -> None:
        community_id = group.community_id
        ctx = EventCtx(runtime=self.rt, db=db, community=await self.lookups.community(db, community_id),
                       ccfg=self.community_config(community_id), now=now, locale=self.rt.locale_of(community_id),
                       cause=event.event_id, event=event, group=group, member=member)
        for hook in hooks:
            if runs_in(ctx.ccfg, group, hook):
                await hook(ctx)

    async def _members(self, event: MembersEvent) -> None:
        group = await self.lookups.served_group(event.room_id)
        if group is None or not self._served_here(group):
            return

        async def work(db: AsyncSession) -> None:
            await self._claim(db, event.event_id)
            now = self.rt.clock.now()
            # Someone the list no longer has left (wechaty tells no leave when a member quits on their own).
            for user_id in await roster.sync_room(db, group.community_id, event.room_id, event.members, now):
                member = await roster.get_member(db, group.community_id, user_id)
                await self._hooks(db, group, LeaveEvent(f"{event.event_id}:left:{user_id}", event.room_id, user_id,
                                                        now), member, self.leaves, now)

        try:
            await self._transact(group.community_id, f"member list {event.event_id}", work)
        except _Duplicate:
            return
        self._seen = {k: v for k, v in self._seen.items() if k[0] != event.room_id}
        self.lookups.forget_size(event.room_id)
