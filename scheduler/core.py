"""The due-loop: CronTrigger computes fire times; our own code decides what runs, once, with catch-up.

APScheduler 3.x is used only for CronTrigger: its own scheduler reads the wall clock, silently drops runs
missed by more than its grace time and its job stores are not safe for several processes.
"""
from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.commands import JobSpec, TimerSpec
from bot.context import JobCtx, Runtime
from bot.tiers import feature_of
from models import Community, JobCursor, JobRun, Timer
from models.db import met_another_transaction
from models.jobs import DONE, PENDING, SKIPPED
from models.ledger import lock_community

log = logging.getLogger("qunbot.scheduler")
_TICK = timedelta(microseconds=1)
CONFLICT_ATTEMPTS = 3           # a run that met a concurrent write is run again, this many times in all


class _AlreadyRan(Exception):
    """Another process (or an earlier run of this one) recorded this (job, community, period)."""


async def set_timer(db: AsyncSession, community_id: str, kind: str, ref_id: str, due_at: datetime,
                    expires_at: datetime) -> None:
    """A one-off timer, in the caller's transaction: `kind`'s function runs once at `due_at` (a later catch-up,
    at or after `expires_at`, skips it)."""
    db.add(Timer(community_id=community_id, kind=kind, ref_id=ref_id, due_at=due_at, expires_at=expires_at,
                 status=PENDING))


class Scheduler:
    def __init__(self, runtime: Runtime, jobs: list[JobSpec], timers: Sequence[TimerSpec] = ()) -> None:
        self.rt = runtime
        self.timers = {timer.kind: timer for timer in timers}
        self.jobs = [job for job in jobs if job.wanted is None or job.wanted(runtime.config)]
        self._order = {job.name: i for i, job in enumerate(self.jobs)}
        self._triggers: dict[tuple[str, str], CronTrigger] = {}
        self._cursor: dict[tuple[str, str], datetime] = {}
        self._retry: dict[tuple[str, str], tuple[int, datetime]] = {}    # failed ledger period: (failures, not before)
        for community in runtime.config.communities:
            tz = runtime.config.community_tz(community)
            for job in self.jobs:
                expr = job.cron(community) if job.cron else getattr(community.schedule, job.name)
                self._triggers[(community.id, job.name)] = CronTrigger.from_crontab(expr, timezone=tz)

    async def load(self) -> None:
        """Read each job's cursor; a job never seen starts at its community's start (no earlier catch-up)."""
        async with self.rt.sessions() as db:
            starts = {c.id: c.started_at for c in await db.scalars(select(Community))}
            cursors = {(c.community_id, c.job): c.last_fire for c in await db.scalars(select(JobCursor))}
        for key in self._triggers:
            self._cursor[key] = cursors.get(key) or starts[key[0]]

    def next_fire_after(self, key: tuple[str, str], after: datetime) -> datetime | None:
        return self._triggers[key].get_next_fire_time(None, after + _TICK)

    async def next_due(self) -> datetime | None:
        times = []
        if self.timers:
            async with self.rt.sessions() as db:
                at = await db.scalar(select(func.min(Timer.due_at)).where(Timer.status == PENDING))
            if at is not None:
                times.append(at)
        for key, cursor in self._cursor.items():
            at = self.next_fire_after(key, cursor)
            if at is not None and key in self._retry:
                at = max(at, self._retry[key][1])
            if at is not None:
                times.append(at)
        return min(times, default=None)

    async def run_due(self, now: datetime) -> None:
        """Run every due (job, period) in time order across jobs (a week's payout before its ranking post), then
        the one-off timers due."""
        await self._run_jobs(now)
        if self.timers:
            await self._run_timers(now)

    async def _run_timers(self, now: datetime) -> None:
        async with self.rt.sessions() as db:
            due = list(await db.scalars(select(Timer).where(Timer.status == PENDING, Timer.due_at <= now)
                                        .order_by(Timer.due_at, Timer.id)))
        for timer in due:
            spec = self.timers.get(timer.kind)
            if spec is None or not self.rt.is_configured(timer.community_id):
                continue        # another version's kind, or a community no longer served: left as it is
            after_commit: list[Callable[[], object]] = []
            try:
                async with self.rt.community_locks[timer.community_id]:
                    after_commit = await self._fire(spec, timer, now)
            except Exception:
                log.exception("timer %s %s for %s failed", timer.kind, timer.ref_id, timer.community_id)
                async with self.rt.sessions.begin() as db:      # not retried: a late post is worse than none
                    await db.execute(update(Timer).where(Timer.id == timer.id, Timer.status == PENDING)
                                     .values(status="failed", ran_at=now))
            await _after_commit(after_commit, f"timer {timer.kind} {timer.ref_id}")
            self.rt.wake()

    async def _fire(self, spec: TimerSpec, timer: Timer, now: datetime) -> list[Callable[[], object]]:
        """Claim the timer (once across processes) and run it in the same transaction, or skip it when late."""
        async with self.rt.sessions.begin() as db:
            late = now >= timer.expires_at
            claimed = await db.execute(update(Timer).where(Timer.id == timer.id, Timer.status == PENDING)
                                       .values(status=SKIPPED if late else DONE, ran_at=now))
            if claimed.rowcount != 1:   # type: ignore[attr-defined]
                return []               # another process ran it
            if late:
                log.warning("timer %s %s for %s was due at %s and is caught up at %s, after it stopped being "
                            "true (%s); skipped", timer.kind, timer.ref_id, timer.community_id,
                            timer.due_at.isoformat(), now.isoformat(), timer.expires_at.isoformat())
                return []
            community = await db.get(Community, timer.community_id)
            assert community is not None
            ctx = JobCtx(self.rt, db, community, self.rt.community_config(timer.community_id), now,
                         self.rt.locale_of(timer.community_id), f"timer:{timer.kind}:{timer.ref_id}",
                         period=timer.due_at)
            await spec.func(ctx, timer)
            return ctx.after_commit

    async def _run_jobs(self, now: datetime) -> None:
        due: list[tuple[datetime, int, tuple[str, str]]] = []
        for key in self._cursor:
            if key in self._retry and self._retry[key][1] > now:
                continue
            fires: list[datetime] = []
            at = self.next_fire_after(key, self._cursor[key])
            while at is not None and at <= now:
                fires.append(at)
                at = self.next_fire_after(key, at)
            if not fires:
                continue
            job = self._job(key[1])
            if job.catch_up == "latest" and len(fires) > 1:
                log.warning("%s for %s missed %d runs while the bot was down; running the latest only",
                            job.name, key[0], len(fires) - 1)
                fires = fires[-1:]
            due += [(period, self._order[job.name], key) for period in fires]
        stuck: set[tuple[str, str]] = set()
        for period, _, key in sorted(due):
            if key in stuck:
                continue                 # an earlier period of this ledger job failed: keep the order
            if await self._run(self._job(key[1]), key[0], period, now):
                self._cursor[key] = period
                self._retry.pop(key, None)
            else:
                stuck.add(key)

    def _job(self, name: str) -> JobSpec:
        return next(j for j in self.jobs if j.name == name)

    async def _run(self, job: JobSpec, community_id: str, period: datetime, now: datetime) -> bool:
        """Run one period in one transaction with its run record, so it happens once across processes.

        Only a conflict on that record means the period already ran. A run that met another concurrent write (a
        ledger entry number taken by a tip in another process, SQLite's write lock held past its timeout) is
        rolled back and run again, like a command. The community's commands and jobs take turns (its lock here,
        the ledger's community lock across processes).

        False when a ledger job failed: its period is retried with backoff (later periods wait for it). A failed
        announcement is recorded and not retried: a late post is worse than none.
        """
        after_commit: list[Callable[[], object]] = []
        try:
            async with self.rt.community_locks[community_id]:
                for attempt in range(1, CONFLICT_ATTEMPTS + 1):
                    try:
                        after_commit = await self._attempt(job, community_id, period, now)
                        break
                    except DBAPIError as exc:
                        if attempt == CONFLICT_ATTEMPTS or not met_another_transaction(exc):
                            raise
                        log.warning("%s for %s at %s met a concurrent write (%s); retrying", job.name, community_id,
                                    period.isoformat(), type(exc.orig).__name__)
        except _AlreadyRan:
            log.info("%s for %s at %s already ran", job.name, community_id, period.isoformat())
        except Exception:
            key = (community_id, job.name)
            if job.catch_up == "each":
                failures = self._retry.get(key, (0, now))[0] + 1
                delay = timedelta(seconds=min(3600, 30 * 2 ** (failures - 1)))
                self._retry[key] = (failures, now + delay)
                log.exception("%s for %s at %s failed (%d in a row); retrying in %s", job.name, community_id,
                              period.isoformat(), failures, delay)
                return False
            log.exception("%s for %s at %s failed", job.name, community_id, period.isoformat())
            try:
                async with self.rt.sessions.begin() as db:
                    await self._claim(db, job, community_id, period, now, status="failed")
            except _AlreadyRan:
                pass
        # As after a command: committed, outside the community's lock.
        await _after_commit(after_commit, f"{job.name} for {community_id} at {period.isoformat()}")
        self.rt.wake()
        return True

    async def _attempt(self, job: JobSpec, community_id: str, period: datetime,
                       now: datetime) -> list[Callable[[], object]]:
        """One try at the run; what the job left to do after its transaction commits."""
        async with self.rt.sessions.begin() as db:
            run = await self._claim(db, job, community_id, period, now, status="done")
            if job.catch_up == "each":
                await lock_community(db, community_id)       # before reading what the ledger job will write on
            community = await db.get(Community, community_id)
            assert community is not None          # config.yaml's communities are written at start
            ctx = JobCtx(self.rt, db, community, self.rt.community_config(community_id), now,
                         self.rt.locale_of(community_id), f"job:{job.name}:{period.isoformat()}", period=period,
                         feature=feature_of(job.func))
            if job.catch_up == "latest":
                until = job.expires(ctx) if job.expires else self.next_fire_after((community_id, job.name), period)
                if until is not None and now >= until:
                    log.info("%s for %s at %s is no longer true at %s; skipped", job.name, community_id,
                             period.isoformat(), now.isoformat())
                    run.status = "skipped"
                    return []
            await job.func(ctx)
            return ctx.after_commit

    async def _claim(self, db: AsyncSession, job: JobSpec, community_id: str, period: datetime, now: datetime, *,
                     status: str) -> JobRun:
        """Record the run of this period and move the cursor (raising _AlreadyRan when the period is recorded
        already or the cursor has passed it)."""
        run = JobRun(job=job.name, community_id=community_id, period=period, status=status, ran_at=now)
        db.add(run)
        try:
            await db.flush()
        except IntegrityError:
            raise _AlreadyRan from None
        await self._advance(db, job.name, community_id, period)
        return run

    @staticmethod
    async def _advance(db: AsyncSession, job: str, community_id: str, period: datetime) -> None:
        cursor = await db.get(JobCursor, (job, community_id))
        if cursor is None:
            db.add(JobCursor(job=job, community_id=community_id, last_fire=period))
        elif cursor.last_fire < period:
            cursor.last_fire = period
        else:           # dealt with before (its run record may have been pruned since: scheduler.retention)
            raise _AlreadyRan


async def _after_commit(callbacks: list[Callable[[], object]], what: str) -> None:
    """Run what a job or timer left for after its commit; a failing one is logged and the rest still run."""
    for callback in callbacks:
        try:
            if inspect.isawaitable(result := callback()):
                await result
        except Exception:
            log.exception("%s: its work after commit failed", what)


def next_fire_time(crontab: str, tz: ZoneInfo, after: datetime) -> datetime | None:
    """The first time after `after` that a crontab line fires (what a job's announcement says is coming)."""
    return CronTrigger.from_crontab(crontab, timezone=tz).get_next_fire_time(None, after + _TICK)
