"""The group's ordinary chat, kept behind the commands.

A message a group's chat brings is appended to an in-memory batch — nothing else happens on the way in, so a
command is never slowed or held by it. The batch is written when it holds `BATCH` messages or its oldest has
waited `FLUSH_SECONDS` (the serve loop wakes for it; simulated runs flush as they drain), in a transaction of its
own, after jieba has cut the texts into words in an executor thread. The same write keeps each member's activity:
messages and commands per day, the time of their last message and command; and, when several bot processes share
the database, that this process's account heard from them last (written only when that changes).

What may be lost: on a crash, the batch not yet written (at most `BATCH` messages, `FLUSH_SECONDS` old) — never a
command, which is handled in its own transaction before it is answered. On SIGTERM the batch is written. When the
database refuses a write (locked, gone for a moment) the batch is kept and written with the next one. When more
than `MAX_WAITING` messages wait, the newest chat is shed with a warning, so memory stays bounded and the event
loop is never blocked.
"""
from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Column, bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import search
from bot.events import IncomingMessage
from bot.lookups import CACHE_TIME as HEARD_RECHECK
from bot.text import words
from models import ActivityDay, ChatMessage, HeardBy, Member
from models.base import table
from models.db import changed, insert_ignoring_conflicts, upsert_adding, upsert_replacing
from models.history import TEXT_LIMIT
from models.summaries import delete_summaries

log = logging.getLogger("qunbot.history")
BATCH = 200                     # messages a write takes at most
FLUSH_SECONDS = 0.5             # the longest a message waits to be written
MAX_WAITING = 10_000            # beyond this the newest chat is shed (the database is down or far behind)
MEMBERS = table(Member)                 # updated in bulk, by (community, user)
CHAT = table(ChatMessage)              # written in bulk


@dataclass(frozen=True, slots=True)
class Seen:
    """A message waiting to be written."""

    community_id: str
    room_id: str
    platform_id: str
    sender_id: str
    sent_at: datetime
    kind: str
    text: str
    url: str | None
    path: str | None
    quoted_id: str | None
    queued_at: float            # event-loop time


@dataclass(frozen=True, slots=True)
class _Forget:
    community_id: str
    user_id: str | None
    room_id: str | None

    def covers(self, s: Seen) -> bool:
        return s.community_id == self.community_id and self.user_id in (None, s.sender_id) \
            and self.room_id in (None, s.room_id)


@dataclass(slots=True)
class _Cutting:
    batch: list[Seen]
    terms: asyncio.Future[list[str]]
    forgets_seen: int               # how many forgets of this flush came before the batch was taken


class ChatRecorder:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], tz_of: Callable[[str], ZoneInfo],
                 wake: Callable[[], None], *, account: str) -> None:
        self.sessions = sessions
        self.tz_of = tz_of              # a community's time zone: its activity days
        self.wake = wake                # asks the serve loop to flush now
        self.account = account          # the bot account this process runs as
        self._heard: dict[str, datetime] = {}           # users heard from, to be recorded as heard here
        # Users known to be recorded as heard here, and when that was last known: another process may have heard
        # them since, so after HEARD_RECHECK it is written again (a write that changes nothing if still so).
        self._heard_here: dict[str, datetime] = {}
        self._waiting: list[Seen] = []
        self._commands: Counter[tuple[str, str, date]] = Counter()
        self._last_command: dict[tuple[str, str], datetime] = {}
        # (community, user, room) whose chat was dropped while a write was under way: deleted after it
        self._forgotten: dict[tuple[str, str | None, str | None], datetime] = {}
        self._deleted_by: set[tuple[str, str]] = set()   # the command deleting their data is not counted
        self._forget_log: list[_Forget] = []          # forgets during this flush (batches taken before them)
        self._lock = asyncio.Lock()
        self.shed = 0                   # messages dropped because too many waited
        self._scopes: dict[str, int] = {}               # rooms' search scope ids (a scope is never deleted)

    # ---- on the way in: memory only ------------------------------------------------------------------------

    def add(self, event: IncomingMessage, community_id: str) -> None:
        """Keep a message of a group's chat (written later, with others)."""
        assert event.room_id is not None
        if len(self._waiting) >= MAX_WAITING:
            self.shed += 1
            if self.shed == 1 or self.shed % 1000 == 0:
                log.warning("chat history is %d messages behind; the newest are not kept (%d so far)",
                            MAX_WAITING, self.shed)
            return
        loop = asyncio.get_running_loop()
        if not self._waiting:           # the serve loop may sleep long: it is woken when this one is due
            loop.call_later(FLUSH_SECONDS, self.wake)
        self._waiting.append(Seen(community_id, event.room_id, event.event_id, event.sender_id, event.sent_at,
                                  event.kind.value, event.text[:TEXT_LIMIT], event.url, event.path, event.quoted_id,
                                  loop.time()))
        if len(self._waiting) >= BATCH:
            self.wake()

    def note_command(self, community_id: str, user_id: str, at: datetime) -> None:
        """A command counts towards its sender's activity (written with the next batch) — but not the one by
        which they deleted their data."""
        if (community_id, user_id) in self._deleted_by:
            self._deleted_by.discard((community_id, user_id))
            return
        self._commands[(community_id, user_id, at.astimezone(self.tz_of(community_id)).date())] += 1
        self._last_command[(community_id, user_id)] = at

    def heard(self, user_id: str, at: datetime) -> None:
        """This process heard from `user_id` (in a group or in private): its account is the one to reach them by.
        Written with the next batch, unless known to be so already."""
        known = self._heard_here.get(user_id)
        if known is None or at - known >= HEARD_RECHECK:
            self._heard[user_id] = at

    def forget(self, community_id: str, *, at: datetime, user_id: str | None = None,
               room_id: str | None = None) -> None:
        """A member deleted their data, or a group's history was turned off or purged: what of theirs waits is
        never written (nor what a write under way takes: it is deleted after)."""
        if user_id is not None:
            self._deleted_by.add((community_id, user_id))
            for key in [k for k in self._commands if k[:2] == (community_id, user_id)]:
                del self._commands[key]
            self._last_command.pop((community_id, user_id), None)

        def theirs(s: Seen) -> bool:
            return s.community_id == community_id and (user_id is None or s.sender_id == user_id) \
                and (room_id is None or s.room_id == room_id)

        self._waiting = [s for s in self._waiting if not theirs(s)]
        if self._lock.locked():
            self._forgotten[(community_id, user_id, room_id)] = at
            self._forget_log.append(_Forget(community_id, user_id, room_id))

    def seconds_to_flush(self) -> float | None:
        """When the waiting batch should be written (0: now); None when nothing waits."""
        if not self._waiting and not self._commands and not self._heard:
            return None
        if len(self._waiting) >= BATCH or not self._waiting:
            return 0.0
        waited = asyncio.get_running_loop().time() - self._waiting[0].queued_at
        return max(0.0, FLUSH_SECONDS - waited)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    # ---- behind: the writes ----------------------------------------------------------------------------------

    async def flush(self) -> int:
        """Write everything waiting, a batch at a time; how many new messages were kept. While one batch is
        written, jieba cuts the next (the write waits on SQLite, the cutting on the interpreter: they overlap).
        A failed write keeps its batch, and the next, for the next flush and raises."""
        written = 0
        loop = asyncio.get_running_loop()
        async with self._lock:
            ahead: _Cutting | None = None       # the next batch, being cut while this one is written
            try:
                while ahead is not None or self._waiting or self._commands or self._heard:
                    cutting = ahead or self._cut(loop)
                    ahead = None
                    commands, self._commands = self._commands, Counter()
                    last_command, self._last_command = self._last_command, {}
                    heard, self._heard = self._heard, {}
                    try:
                        terms = await cutting.terms
                        if self._waiting:
                            ahead = self._cut(loop)
                        batch, terms = self._still_kept(cutting, terms)
                        written += await self._write(batch, terms, commands, last_command, heard)
                    except BaseException:
                        self._waiting[:0] = cutting.batch       # kept, in order, for the next try
                        self._commands.update(commands)
                        for key, at in last_command.items():
                            self._last_command.setdefault(key, at)
                        for user_id, at in heard.items():
                            self._heard.setdefault(user_id, at)
                        raise
                    self._heard_here.update(heard)
                    await self._purge_forgotten()
            except BaseException:
                if ahead is not None:
                    self._waiting[:0] = ahead.batch
                    ahead.terms.cancel()
                raise
            finally:
                self._forget_log.clear()
        return written

    def _cut(self, loop: asyncio.AbstractEventLoop) -> _Cutting:
        """Take the next batch and have jieba cut it in an executor thread."""
        batch, self._waiting = self._waiting[:BATCH], self._waiting[BATCH:]
        return _Cutting(batch, loop.run_in_executor(None, words, [s.text for s in batch]), len(self._forget_log))

    def _still_kept(self, cutting: _Cutting, terms: list[str]) -> tuple[list[Seen], list[str]]:
        """The batch without what was forgotten since it was taken (a member deleted their data meanwhile)."""
        since = self._forget_log[cutting.forgets_seen:]
        if not since:
            return cutting.batch, terms
        kept = [(s, t) for s, t in zip(cutting.batch, terms, strict=True)
                if not any(f.covers(s) for f in since)]
        return [s for s, _ in kept], [t for _, t in kept]

    async def _write(self, batch: list[Seen], terms: list[str], commands: Counter[tuple[str, str, date]],
                     last_command: dict[tuple[str, str], datetime], heard: dict[str, datetime]) -> int:
        """One short transaction of a few statements, each run once for the whole batch (executemany): the write
        lock is held for milliseconds, whatever the number of senders."""
        unique = {(s.room_id, s.platform_id): (s, t) for s, t in zip(batch, terms, strict=True)}
        scopes = dict(self._scopes)     # the rooms' scopes, known once this write commits
        async with self.sessions.begin() as db:
            kept: list[Seen] = []
            if unique:
                rows = [dict(community_id=s.community_id, room_id=s.room_id, platform_id=s.platform_id,
                             sender_id=s.sender_id, sent_at=s.sent_at, kind=s.kind, text=s.text, url=s.url,
                             path=s.path, quoted_id=s.quoted_id, terms=t) for s, t in unique.values()]
                inserted = await db.execute(
                    insert_ignoring_conflicts(db, CHAT).returning(CHAT.c.room_id, CHAT.c.platform_id, CHAT.c.id),
                    rows)
                new = {(room_id, platform_id): message_id for room_id, platform_id, message_id in inserted}
                kept = [s for key, (s, _) in unique.items() if key in new]    # a redelivery is not counted twice
                await self._index(db, [(s, new[key], t) for key, (s, t) in unique.items() if key in new and t],
                                  scopes)
            messages: Counter[tuple[str, str, date]] = Counter(
                (s.community_id, s.sender_id, s.sent_at.astimezone(self.tz_of(s.community_id)).date()) for s in kept)
            await _count(db, messages, commands)
            last_message: dict[tuple[str, str], datetime] = {}
            for s in kept:
                key = (s.community_id, s.sender_id)
                last_message[key] = max(s.sent_at, last_message.get(key, s.sent_at))
            await _latest(db, MEMBERS.c.last_message_at, last_message)
            await _latest(db, MEMBERS.c.last_command_at, last_command)
            if heard:
                # In one order in every process: two batches meeting on PostgreSQL wait for each other, never
                # deadlock.
                await db.execute(upsert_replacing(db, HeardBy, ("user_id",), ("account", "heard_at"),
                                                  lambda row, new: row.account != new.account),
                                 [dict(user_id=user_id, account=self.account, heard_at=at)
                                  for user_id, at in sorted(heard.items())])
        self._scopes = scopes
        return len(kept)

    @staticmethod
    async def _index(db: AsyncSession, kept: list[tuple[Seen, int, str]], scopes: dict[str, int]) -> None:
        """The new messages join the search index, in the write that keeps them."""
        by_community: dict[str, list[tuple[str, int, str]]] = {}
        for s, message_id, terms in kept:
            by_community.setdefault(s.community_id, []).append((s.room_id, message_id, terms))
        for community_id, messages in sorted(by_community.items()):
            await search.index_chat(db, community_id, messages, scopes)

    async def _purge_forgotten(self) -> None:
        forgotten, self._forgotten = self._forgotten, {}
        for (community_id, user_id, room_id), at in forgotten.items():
            async with self.sessions.begin() as db:
                await delete_messages(db, community_id, user_id=user_id, room_id=room_id, before=at)


async def _count(db: AsyncSession, messages: Counter[tuple[str, str, date]],
                 commands: Counter[tuple[str, str, date]]) -> None:
    """Add to each member's activity of each day: one upsert for all of them."""
    rows = [dict(community_id=c, user_id=u, day=d, messages=messages[(c, u, d)], commands=commands[(c, u, d)])
            for c, u, d in sorted({*messages, *commands})]
    if rows:
        await db.execute(upsert_adding(db, ActivityDay, ("community_id", "user_id", "day"), ("messages", "commands")),
                         rows)


async def _latest(db: AsyncSession, column: Column[datetime], times: dict[tuple[str, str], datetime]) -> None:
    """Move each member's `column` forward to the time given (never back): one statement for all of them."""
    if not times:
        return
    at = bindparam("at", type_=column.type)
    await db.execute(update(MEMBERS).where(MEMBERS.c.community_id == bindparam("c"),
                                           MEMBERS.c.user_id == bindparam("u"),
                                           or_(column.is_(None), column < at)).values({column.name: at}),
                     [dict(c=community_id, u=user_id, at=when) for (community_id, user_id), when in times.items()])


async def delete_messages(db: AsyncSession, community_id: str, *, user_id: str | None = None,
                          room_id: str | None = None, before: datetime | None = None) -> int:
    """Remove kept chat — a member's (their deleted data), a group's (purged) — in the caller's transaction; how
    many messages went."""
    where = [ChatMessage.community_id == community_id]
    if user_id is not None:
        where.append(ChatMessage.sender_id == user_id)
    if room_id is not None:
        where.append(ChatMessage.room_id == room_id)
    if before is not None:
        where.append(ChatMessage.sent_at <= before)
    else:           # what an LLM summarised of it goes with it
        await delete_summaries(db, community_id, user_id=user_id, room_id=room_id)
    await search.forget_chat(db, select(ChatMessage.id).where(*where))
    return await changed(db, delete(ChatMessage).where(*where))
