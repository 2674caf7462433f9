"""The due-loop: CronTrigger computes fire times; our own code decides what runs, once, with catch-up.

APScheduler 3.x is used only for CronTrigger: its own scheduler reads the wall clock, silently drops runs
missed by more than its grace time and its job stores are not safe for several processes.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.adapters.base import ChatRef
from bot.context import BaseCtx
from bot.router import JobSpec
from models import Community, Group, JobCursor, JobRun

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger("qunbot.scheduler")
_TICK = timedelta(microseconds=1)


@dataclass
class JobCtx(BaseCtx):
    """A job run for one community and one period (the fire time it stands for)."""

    period: datetime = None  # type: ignore[assignment]

    async def groups(self) -> list[Group]:
        rows = await self.db.scalars(select(Group).where(Group.community_id == self.community.id, Group.enabled)
                                     .order_by(Group.room_id))
        return list(rows)

    async def post_to_groups(self, text: str, mentions: tuple[str, ...] = ()) -> None:
        for group in await self.groups():
            await self.post(ChatRef(room_id=group.room_id), text, mentions=mentions)


class Scheduler:
    def __init__(self, app: "App", jobs: list[JobSpec]) -> None:
        self.app = app
        self.jobs = jobs
        self._triggers: dict[tuple[str, str], CronTrigger] = {}
        self._cursor: dict[tuple[str, str], datetime] = {}
        for community in app.config.communities:
            tz = app.config.community_tz(community)
            for job in jobs:
                expr = getattr(community.schedule, job.name)
                self._triggers[(community.id, job.name)] = CronTrigger.from_crontab(expr, timezone=tz)

    async def load(self) -> None:
        """Read each job's cursor; a job never seen starts at its community's start (no earlier catch-up)."""
        async with self.app.sessions() as db:
            starts = {c.id: c.started_at for c in await db.scalars(select(Community))}
            cursors = {(c.community_id, c.job): c.last_fire for c in await db.scalars(select(JobCursor))}
        for key in self._triggers:
            self._cursor[key] = cursors.get(key) or starts[key[0]]

    def next_fire_after(self, key: tuple[str, str], after: datetime) -> datetime | None:
        return self._triggers[key].get_next_fire_time(None, after + _TICK)

    async def next_due(self) -> datetime | None:
        times = [self.next_fire_after(key, cursor) for key, cursor in self._cursor.items()]
        return min((t for t in times if t is not None), default=None)

    async def run_due(self, now: datetime) -> None:
        for key in sorted(self._cursor):
            fires: list[datetime] = []
            at = self.next_fire_after(key, self._cursor[key])
            while at is not None and at <= now:
                fires.append(at)
                at = self.next_fire_after(key, at)
            if not fires:
                continue
            job = next(j for j in self.jobs if j.name == key[1])
            if job.catch_up == "latest" and len(fires) > 1:
                log.warning("%s for %s missed %d runs while the bot was down; running the latest only",
                            job.name, key[0], len(fires) - 1)
                fires = fires[-1:]
            for period in fires:
                await self._run(job, key[0], period, now)
            self._cursor[key] = fires[-1]

    async def _run(self, job: JobSpec, community_id: str, period: datetime, now: datetime) -> None:
        """Run one period in one transaction with its run record, so it happens once across processes."""
        try:
            async with self.app.sessions.begin() as db:
                db.add(JobRun(job=job.name, community_id=community_id, period=period, status="done", ran_at=now))
                await db.flush()
                await self._advance(db, job.name, community_id, period)
                ctx = JobCtx(app=self.app, db=db, community=await db.get(Community, community_id),
                             ccfg=self.app.community_config(community_id), now=now,
                             locale=self.app.locale_of(community_id), cause=f"job:{job.name}:{period.isoformat()}",
                             period=period)
                await job.func(ctx)
        except IntegrityError:
            log.info("%s for %s at %s already ran", job.name, community_id, period.isoformat())
        except Exception:
            log.exception("%s for %s at %s failed", job.name, community_id, period.isoformat())
            async with self.app.sessions.begin() as db:
                db.add(JobRun(job=job.name, community_id=community_id, period=period, status="failed", ran_at=now))
                await self._advance(db, job.name, community_id, period)
        self.app.wake()

    @staticmethod
    async def _advance(db, job: str, community_id: str, period: datetime) -> None:
        cursor = await db.get(JobCursor, (job, community_id))
        if cursor is None:
            db.add(JobCursor(job=job, community_id=community_id, last_fire=period))
        elif cursor.last_fire < period:
            cursor.last_fire = period
