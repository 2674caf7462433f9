"""Composition root: config + adapter + clock + database -> a running bot."""
from __future__ import annotations

import asyncio
import gc
import logging
import random
import sys
import time
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import i18n, outbox, roster
from bot.adapters.base import Adapter, AdapterStopped
from bot.clock import Clock
from bot.commands import CommandTable
from bot.config import CommunityConfig, Config
from bot.context import Runtime
from bot.dispatch import Dispatcher
from bot.events import Capability, ChatRef, IncomingEvent
from bot.history import ChatRecorder
from bot.llm import ChatModel
from bot.lookups import Lookups
from bot.outbox import OutboxSender
from bot.router import Router
from bot.text import warm_up
from handlers import (
    archive,
    challenges,
    checkin,
    digest,
    directory,
    duty,
    exports,
    fund,
    groups,
    help,
    history,
    invites,
    lifecycle,
    moderation,
    morning,
    profile,
    questions,
    ranking,
    report,
    rewards,
    roles,
    rules,
    search,
    sessions,
    summaries,
    tags,
    talks,
    tiers,
    tips,
    welcome,
)
from models import Community, Group, Member, OutboxMessage
from models.db import (
    create_engine,
    insert_ignoring_conflicts,
    met_another_transaction,
    sessionmaker,
    startup_lock,
    upgrade,
)
from scheduler import retention
from scheduler.core import Scheduler

log = logging.getLogger("qunbot")
# On SIGTERM/SIGINT the events in hand finish and the outbox sends what is due within this many seconds
# (docker stop kills after 10).
STOP_GRACE_SECONDS = 5.0
SWITCH_INTERVAL = 0.001     # seconds a thread holds the interpreter lock while another waits for it
YIELD_EVERY = 8             # events handled back to back before the event loop gets a turn (~1 ms of chat)
SYNC_ATTEMPTS = 3          # writing config.yaml's rows at start, when another process's write met it

# Every capability's router, in the order /help lists them (jobs due at the same time run in this order too:
# a week's rewards are paid before its ranking is posted).
ROUTERS: tuple[Router, ...] = (
    help.router, profile.router, directory.router, tags.router, questions.router, search.router, tips.router,
    rewards.router, ranking.router, archive.router, fund.router, duty.router, challenges.router, invites.router,
    sessions.router, welcome.router, roles.router, groups.router, tiers.router, history.router, retention.router,
    digest.router, summaries.router, rules.router, moderation.router, lifecycle.router, exports.router,
    report.router, checkin.router, talks.router, morning.router,
)


class App:
    def __init__(self, config: Config, adapter: Adapter, clock: Clock, *, database_url: str | None = None,
                 routers: tuple[Router, ...] = ROUTERS) -> None:
        self.config = config
        self.adapter = adapter
        self.clock = clock
        self.routers = routers
        self.engine = create_engine(database_url or config.database.url)
        self.sessions = sessionmaker(self.engine, account=config.account)
        self.lookups = Lookups(self.sessions, config, clock)
        # The outbox keeps to the pacing in config.yaml, tightened to what the platform allows.
        self.pacing = config.pacing.within(getattr(adapter, "limits", None))
        self._wake = asyncio.Event()
        self.runtime = Runtime(config=config, clock=clock, sessions=self.sessions, capabilities=adapter.capabilities,
                               pacing=self.pacing, commands=CommandTable(s for r in routers for s in r.commands),
                               lookups=self.lookups, wake=self.wake,
                               llm=ChatModel(config.llm) if config.llm is not None else None,
                               forget_hooks=[hook for r in routers for hook in r.forgets])
        self.dispatcher = Dispatcher(self.runtime, routers, adapter.room_members)
        self.runtime.refresh_members = self.dispatcher.refresh_members
        self.history = ChatRecorder(self.sessions, lambda cid: config.community_tz(config.community(cid)), self.wake,
                                    account=config.account)
        self.runtime.history = self.history
        self.sender = OutboxSender(self.sessions, adapter, clock, self.pacing, on_failed=self._send_failed,
                                   account=config.account)
        self.scheduler = Scheduler(self.runtime, [job for r in routers for job in r.jobs],
                                   [timer for r in routers for timer in r.timers])
        if Capability.SEES_ALL_MESSAGES not in adapter.capabilities:
            for community in config.communities:
                if community.hygiene.spam.enabled:
                    log.warning("community %s switches the anti-spam on, but the %s adapter shows the bot only "
                                "messages that @-mention it: the groups' chat cannot be checked there", community.id,
                                adapter.name)
        self._stopping = asyncio.Event()        # set by stop()
        self._stop_cause = ""
        self._in_hand = 0                       # events being handled now
        self._idle = asyncio.Event()
        self._idle.set()
        self._not_taken = 0                     # events that arrived while stopping
        self._unyielded = 0                     # events handled since the event loop last had a turn

    def community_config(self, community_id: str) -> CommunityConfig:
        return self.runtime.community_config(community_id)

    def is_configured(self, community_id: str) -> bool:
        """Communities removed from config.yaml keep their data but are no longer served."""
        return self.runtime.is_configured(community_id)

    def locale_of(self, community_id: str) -> str:
        return self.runtime.locale_of(community_id)

    @property
    def community_locks(self) -> dict[str, asyncio.Lock]:
        return self.runtime.community_locks

    async def start(self, *, migrate: bool = True) -> None:
        # Processes starting together on one database take turns to migrate it and write config.yaml's rows.
        async with startup_lock(self.engine):
            if migrate:
                await upgrade(self.engine)
            await self._sync_config()
        await self.sender.recover()
        await self.scheduler.load()
        # jieba's dictionary takes about a second to load; do it before events arrive, off the event loop.
        await asyncio.get_running_loop().run_in_executor(None, warm_up)
        # jieba cuts chat in an executor thread, in pure Python: the event loop waits for the interpreter lock
        # while it does, up to the switch interval each time (5 ms by default, a long stall for a command).
        sys.setswitchinterval(SWITCH_INTERVAL)
        # What is loaded by now (jieba's dictionary, the modules, the config) lives as long as the process: the
        # collector need not walk it again on every full collection, which otherwise pauses a command now and then.
        gc.collect()
        gc.freeze()

    async def _sync_config(self) -> None:
        """Communities and groups from config.yaml into the database; a new community starts now. A process already
        running on the database may write meanwhile (SQLite then refuses this transaction's late write outright):
        it runs again, like a command."""
        for attempt in range(1, SYNC_ATTEMPTS + 1):
            try:
                await self._write_config()
                return
            except Exception as exc:
                if attempt == SYNC_ATTEMPTS or not met_another_transaction(exc):
                    raise
                log.info("writing config.yaml's communities met another process's write (%s); again", exc)

    async def _write_config(self) -> None:
        now = self.clock.now()
        async with self.sessions.begin() as db:
            for cfg in self.config.communities:
                community = await db.get(Community, cfg.id)
                if community is None:
                    db.add(Community(id=cfg.id, name=cfg.name, started_at=now))
                else:
                    community.name = cfg.name
                await db.flush()
                listed = {g.room for g in cfg.groups}
                for group in await db.scalars(select(Group).where(Group.source == "config", Group.enabled)):
                    if group.community_id == cfg.id and group.room_id not in listed:
                        group.enabled = False    # removed from config.yaml
                for g in cfg.groups:
                    known = await db.get(Group, g.room)
                    if known is None:
                        db.add(Group(room_id=g.room, community_id=cfg.id, enabled=True, name=g.name,
                                     size_hint=g.size, source="config", account=g.account))
                    else:
                        if known.account is not None and known.account != g.account:
                            # Said at every start while the processes on this database disagree about it.
                            log.warning("room %s was served by the bot account %s; this config gives it to %s: the "
                                        "processes on one database need the same groups and accounts in their "
                                        "configs", g.room, known.account, g.account or "any")
                        known.community_id, known.enabled, known.size_hint = cfg.id, True, g.size
                        known.name, known.source, known.account = g.name or known.name, "config", g.account
                # A running process may be adding the same people as they speak.
                await db.execute(insert_ignoring_conflicts(db, Member), [
                    dict(community_id=cfg.id, user_id=user_id, display_name=user_id, first_seen_at=now)
                    for user_id in sorted({*cfg.owners, *cfg.moderators, *cfg.treasurers})])

    async def _send_failed(self, db: AsyncSession, row: OutboxMessage, now: datetime) -> None:
        """A group message the platform refused for good: owners and moderators are told in private, so a
        person can act — remove the member themselves, or make the group reachable (on WeCom someone must
        @-mention the bot there once before it can post)."""
        if (row.kind == "image" and row.purpose == report.CHART_PURPOSE and row.target
                and self.is_configured(row.target)):
            ctx = await self.runtime.context(db, row.target, cause=f"failed:{row.id}", now=now)
            await report.chart_refused(ctx, ChatRef.from_key(row.chat_key), row.error or "-")
            return
        room_id = ChatRef.from_key(row.chat_key).room_id
        if room_id is None or row.kind not in ("remove", "say"):
            return
        group = await db.get(Group, room_id)
        if group is None or not self.is_configured(group.community_id):
            return
        cfg = self.community_config(group.community_id)
        staff = await roster.moderators(db, cfg)
        if row.kind == "remove":
            member = await db.scalar(select(Member).where(Member.community_id == cfg.id,
                                                          Member.user_id == row.target))
            text = i18n.t(self.locale_of(cfg.id), "remove.failed", group=group.name or room_id, reason=row.text,
                          name=member.display_name if member else row.target)
        else:
            first_line = row.text.split("\n", 1)[0]
            locale = self.locale_of(cfg.id)
            text = i18n.t(locale, "post.failed", group=group.name or room_id, reason=row.error or "-",
                          start=first_line[:30] + ("…" if len(first_line) > 30 else ""))
            if i18n.has(locale, f"post.hint.{self.adapter.name}"):
                text += "\n" + i18n.t(locale, f"post.hint.{self.adapter.name}")
        # One notice per message, not per part of a split one.
        cause = f"failed:{row.chat_key}:{row.cause or row.id}"[:200]
        if row.cause and await db.scalar(select(OutboxMessage.id).where(OutboxMessage.cause == cause).limit(1)):
            return
        for user_id in staff:
            await outbox.enqueue(db, self.pacing, ChatRef(user_id=user_id), text, now=now, cause=cause)

    async def handle(self, event: IncomingEvent) -> bool:
        """Handle one event; True when something was queued in answer to it. Once stopping, new events are not
        taken."""
        if self._stopping.is_set():
            self._not_taken += 1
            return False
        self._in_hand += 1
        self._idle.clear()
        try:
            return await self.dispatcher.handle(event)
        finally:
            self._in_hand -= 1
            if not self._in_hand:
                self._idle.set()
            # Ordinary chat is handled without waiting on anything, and an adapter may hand over a burst of
            # buffered events back to back: every few, the event loop gets a turn (timers, replies, commands).
            self._unyielded += 1
            if self._unyielded >= YIELD_EVERY:
                self._unyielded = 0
                await asyncio.sleep(0)

    def stop(self, cause: str = "request") -> None:
        """Begin stopping (a signal handler calls this): no new events are taken, and serve() returns once the
        events in hand have finished, the outbox has sent what is due and the adapter is closed."""
        if not self._stopping.is_set():
            self._stop_cause = cause
            self._stopping.set()
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def next_due(self) -> datetime | None:
        times = [t for t in (await self.scheduler.next_due(), await self.sender.next_due()) if t is not None]
        return min(times, default=None)

    async def run_due(self, now: datetime) -> None:
        await self.history.flush()              # the jobs see the chat up to now
        await self.scheduler.run_due(now)
        await self.sender.send_due(now)

    async def settle(self) -> None:
        """Wait for the work jobs started in the background (simulated time: done before the clock moves on)."""
        await self.runtime.background.settle()

    async def serve(self) -> None:
        """Run for real: the adapter feeds events while this loop runs jobs and sends, sleeping in between,
        until stop() (then it winds down and returns) or the adapter gives up (then it raises).

        A failing round (the database locked or unreachable for a moment) is logged and retried with backoff;
        it never stops the bot.
        """
        if self._stopping.is_set():             # stopped while starting: no adapter to close
            await self._wind_down(None)
            return
        adapter_task = asyncio.create_task(self._supervise_adapter(), name="adapter")
        failures = 0
        me = asyncio.current_task()
        try:
            while not adapter_task.done() and not self._stopping.is_set():
                self._wake.clear()
                try:
                    await self.run_due(self.clock.now())
                    due = await self.next_due()
                    failures = 0
                except Exception:
                    failures += 1
                    log.exception("scheduler/outbox round failed (%d in a row); retrying", failures)
                    due = self.clock.now() + timedelta(seconds=min(60, 2 ** failures))
                timeout = 60.0 if due is None else max(0.0, min(60.0, (due - self.clock.now()).total_seconds()))
                if (flush := self.history.seconds_to_flush()) is not None:
                    timeout = min(timeout, max(flush, 0.05))    # a failing write is not retried in a tight loop
                if me is not None and me.cancelling():
                    # A cancellation that arrives during a database call can be swallowed on its way out
                    # (seen with aiosqlite through SQLAlchemy): stopping must not depend on where it landed.
                    raise asyncio.CancelledError
                if timeout > 0:
                    wake = asyncio.create_task(self._wake.wait())
                    try:
                        await asyncio.wait({wake, adapter_task}, timeout=timeout,
                                           return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        wake.cancel()
            if self._stopping.is_set():
                await self._wind_down(adapter_task)
                return
            adapter_task.result()
        finally:
            adapter_task.cancel()
            await asyncio.gather(adapter_task, return_exceptions=True)   # its connection closes before we return

    async def _wind_down(self, adapter_task: asyncio.Task | None) -> None:
        """Between rounds: the events in hand finish and the outbox sends what is due, both within
        STOP_GRACE_SECONDS; then the adapter closes, and one line says what was left."""
        deadline = asyncio.get_running_loop().time() + STOP_GRACE_SECONDS
        cut_off = ""
        await self.runtime.background.cancel()  # it stores its progress as it goes; the next run goes on from there
        try:
            await asyncio.wait_for(self._idle.wait(), STOP_GRACE_SECONDS)
        except TimeoutError:
            # Closing the adapter cancels them: their transactions roll back, so nothing is half done.
            cut_off = f", events cut off unfinished: {self._in_hand}"
        try:
            await self.history.flush()
        except Exception:
            log.exception("writing the chat history while stopping failed (%d messages not kept)",
                          self.history.waiting)
        sent, waiting = 0, "?"
        try:
            if adapter_task is not None:        # stopped while starting: nothing is connected to send through
                sent = await self._send_due_before(deadline)
            waiting = str(await self.sender.pending())
        except Exception:
            log.exception("sending the outbox while stopping failed")
        if adapter_task is not None:
            await self.adapter.close()
            await asyncio.wait({adapter_task}, timeout=STOP_GRACE_SECONDS)
        not_taken = f", events not taken: {self._not_taken}" if self._not_taken else ""
        log.info("stopped on %s (messages sent while stopping: %d, left waiting for the next start: %s%s%s)",
                 self._stop_cause, sent, waiting, not_taken, cut_off)

    async def _send_due_before(self, deadline: float) -> int:
        """Send what falls due before `deadline` (event-loop time), pacing allowing; how many went out. A send
        already begun is not cut short: interrupted, it would count as lost at the next start."""
        loop = asyncio.get_running_loop()
        sent = 0
        while (due := await self.sender.next_due()) is not None:
            wait = max(0.0, (due - self.clock.now()).total_seconds())
            if loop.time() + wait >= deadline:
                break
            await asyncio.sleep(wait)
            sent += await self.sender.send_due(self.clock.now())
        return sent

    async def _supervise_adapter(self) -> None:
        """Keep the platform connection up: restart a failed or dropped adapter with exponential backoff and
        jitter, logging each change (a failure that repeats, such as an unreachable service, once per outage);
        give up only after adapter.max_failures failed starts in a row."""
        cfg = self.config.adapter
        failures = 0
        repeating: str | None = None        # the failure being retried; its repeats are logged at DEBUG
        while True:
            started = time.monotonic()
            log.log(logging.DEBUG if repeating else logging.INFO, "%s adapter: starting", self.adapter.name)
            try:
                await self.adapter.run(self.handle)
                log.info("%s adapter: stopped", self.adapter.name)
                return
            except AdapterStopped as exc:
                log.error("%s adapter: %s", self.adapter.name, exc)
                raise
            except Exception as exc:
                if time.monotonic() - started > 2 * cfg.retry_max_seconds:
                    failures, repeating = 0, None    # it was up for a good while: a new run of failures starts
                failures += 1
                if cfg.max_failures is not None and failures >= cfg.max_failures:
                    log.error("%s adapter: giving up after %d failed starts: %s", self.adapter.name, failures, exc)
                    raise
                delay = min(cfg.retry_max_seconds, 2 ** (failures - 1)) * random.uniform(0.5, 1.0)
                if str(exc) == repeating:
                    log.debug("%s adapter: still down; restart %d in %.1f s", self.adapter.name, failures, delay)
                else:
                    log.warning("%s adapter: down (%s); restart %d in %.1f s", self.adapter.name, exc, failures,
                                delay)
                    repeating = str(exc)
                try:
                    await asyncio.wait_for(self._stopping.wait(), delay)
                    return                       # stopping: no restart
                except TimeoutError:
                    pass

    async def close(self) -> None:
        await self.runtime.background.cancel()
        await self.engine.dispose()


def build_app(config: Config, adapter: Adapter, clock: Clock, *, database_url: str | None = None) -> App:
    return App(config, adapter, clock, database_url=database_url)
