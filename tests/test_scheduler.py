"""Scheduled jobs: fire times from config.yaml in the community's zone, once per period, catch-up after downtime."""
import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.adapters.recording import RecordingAdapter
from bot.app import ROUTERS, App
from bot.router import Router
from handlers import welcome
from models import JobRun
from scheduler.core import JobCtx
from tests.conftest import make_config

SH = ZoneInfo("Asia/Shanghai")


def sh(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


class Recorder:
    """A job on the post_new_members schedule that posts the period it stands for (and may fail)."""

    def __init__(self, catch_up: str, *, fail: bool = False) -> None:
        self.runs: list[tuple[str, datetime]] = []
        self.fail = fail
        self.router = Router()

        @self.router.job("post_new_members", catch_up=catch_up)
        async def post_new_members(job: JobCtx) -> None:
            self.runs.append((job.community.id, job.period))
            await job.post_to_groups(f"周报 {job.period.astimezone(SH):%Y-%m-%d %H:%M}")
            if self.fail:
                raise RuntimeError("the report generator broke")

    @property
    def periods(self) -> list[datetime]:
        return [period for _, period in self.runs]

    def routers(self) -> tuple[Router, ...]:
        """The bot's routers with this job in place of the weekly new-members post."""
        return (*(r for r in ROUTERS if r is not welcome.router), self.router)


def posts(chat) -> list[str]:
    return [r["text"] for r in chat.sent if r.get("text", "").startswith("周报")]


def at_of(row) -> datetime:
    return datetime.fromisoformat(row["at"])


async def restart(chat, at: datetime, config=None) -> None:
    """The process died after the last event and starts again at `at` (jobs due meanwhile were missed)."""
    await chat.app.close()
    if config is not None:
        chat.config = chat.driver.config = config
    chat.clock.set(at)
    await chat.start(members=())
    await chat.app.run_due(chat.clock.now())
    await chat.flush()


async def job_runs(chat) -> list[tuple[datetime, str]]:
    async with chat.app.sessions() as db:
        return [(r.period, r.status) for r in await db.scalars(
            select(JobRun).where(JobRun.job == "post_new_members").order_by(JobRun.period))]


# ---- fire times --------------------------------------------------------------------------------------------

async def test_fire_times_come_from_the_crontab_in_the_community_time_zone(make_chat):
    job = Recorder("latest")
    london = ZoneInfo("Europe/London")
    c = await make_chat(routers=job.routers(), timezone="Europe/London",
                        schedule={"post_new_members": "30 7 * * wed"})
    await c.tick(sh("2026-12-10T00:00:00"))
    expected = [datetime(2026, 11, d, 7, 30, tzinfo=london) for d in (25,)] + \
               [datetime(2026, 12, d, 7, 30, tzinfo=london) for d in (2, 9)]
    assert job.periods == expected
    assert [at_of(r) for r in c.sent] == expected              # posted when due: 15:30 in Shanghai
    assert posts(c)[0] == "周报 2026-11-25 15:30"


async def test_communities_without_a_zone_use_the_top_level_one(make_chat):
    job = Recorder("latest")
    c = await make_chat(routers=job.routers(), top_timezone="America/New_York",
                        schedule={"post_new_members": "0 9 * * mon"})
    # START is Monday 09:00 in Shanghai = Sunday 20:00 in New York: the first run is Monday 09:00 there
    await c.tick(sh("2026-11-24T00:00:00"))
    assert job.periods == [datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("America/New_York"))]
    assert at_of(c.sent[0]) == sh("2026-11-23T22:00:00")


async def test_wall_clock_time_holds_across_daylight_saving(make_chat):
    job = Recorder("each")
    berlin = ZoneInfo("Europe/Berlin")
    c = await make_chat(routers=job.routers(), timezone="Europe/Berlin",
                        schedule={"post_new_members": "0 10 * * mon"})
    await c.tick(sh("2027-04-06T00:00:00"))
    local = [p.astimezone(berlin) for p in job.periods]
    assert len(local) == 20                                     # Mondays 11-23 .. 04-05
    assert all((p.weekday(), p.hour, p.minute) == (0, 10, 0) for p in local)
    assert {p.utcoffset() for p in local} == {timedelta(hours=1), timedelta(hours=2)}   # CET and CEST


# ---- once per period ---------------------------------------------------------------------------------------

async def test_a_period_runs_once_however_often_it_is_checked(make_chat):
    job = Recorder("each")
    c = await make_chat(routers=job.routers())
    fire = sh("2026-11-23T10:00:00")
    c.clock.set(fire + timedelta(minutes=1))
    await c.app.run_due(c.clock.now())
    await c.app.run_due(c.clock.now())
    await c.flush()
    await restart(c, fire + timedelta(minutes=1))       # and after a restart at the same moment
    await c.app.run_due(c.clock.now())
    await c.flush()
    assert job.periods == [fire]
    assert posts(c) == ["周报 2026-11-23 10:00"]
    assert await job_runs(c) == [(fire, "done")]


async def test_two_bot_processes_on_one_database_post_once(make_chat):
    job = Recorder("latest")
    c = await make_chat(routers=job.routers())
    other_sent = []
    other = App(c.config, RecordingAdapter(other_sent.append), c.clock, database_url=c.db_url,
                routers=c.driver.routers)
    await other.start()
    try:
        now = sh("2026-11-23T10:00:30")
        c.clock.set(now)
        await other.run_due(now)
        await c.app.run_due(now)
        for _ in range(3):
            await other.sender.send_due(c.clock.now())
            await c.flush()
        texts = posts(c) + [o.text for o in other_sent if o.text.startswith("周报")]
        assert texts == ["周报 2026-11-23 10:00"]
        assert len(job.runs) == 1
        assert len(await job_runs(c)) == 1
    finally:
        await other.close()


# ---- missed runs -------------------------------------------------------------------------------------------

MISSED = [sh(f"2026-{d}T10:00:00") for d in ("11-23", "11-30", "12-07", "12-14")]


async def test_missed_announcement_runs_for_the_latest_period_only(make_chat, caplog):
    job = Recorder("latest")
    c = await make_chat(routers=job.routers())
    with caplog.at_level(logging.WARNING, logger="qunbot.scheduler"):
        await restart(c, sh("2026-12-15T09:00:00"))
    assert job.periods == [MISSED[-1]]
    assert posts(c) == ["周报 2026-12-14 10:00"]
    assert at_of(c.sent[0]) == sh("2026-12-15T09:00:00")      # posted on coming back
    assert any("missed 3 runs" in r.getMessage() for r in caplog.records)
    # and the schedule goes on as usual
    await c.tick(sh("2026-12-21T10:01:00"))
    assert job.periods == [MISSED[-1], sh("2026-12-21T10:00:00")]


async def test_missed_ledger_job_runs_every_period_once_in_order(make_chat):
    job = Recorder("each")
    c = await make_chat(routers=job.routers())
    await restart(c, sh("2026-12-15T09:00:00"))
    assert job.periods == MISSED
    assert posts(c) == [f"周报 {p:%Y-%m-%d %H:%M}" for p in MISSED]
    await restart(c, sh("2026-12-15T09:05:00"))                # coming back again catches up nothing twice
    assert job.periods == MISSED
    assert [status for _, status in await job_runs(c)] == ["done"] * 4


async def test_nothing_is_caught_up_from_before_the_community_started(make_chat):
    job = Recorder("each")
    # START is Monday 09:00: that morning's 08:00 run is before the community existed
    c = await make_chat(routers=job.routers(), schedule={"post_new_members": "0 8 * * mon"})
    await c.tick(sh("2026-12-01T00:00:00"))
    assert job.periods == [sh("2026-11-30T08:00:00")]


async def test_a_community_added_later_starts_its_schedule_then(make_chat):
    job = Recorder("each")
    c = await make_chat(routers=job.routers())
    two = make_config(top_communities=[
        {"id": "growth", "name": "增长学习社", "owners": ["u_owner"], "groups": [{"room": "r1"}]},
        {"id": "design", "name": "设计学习社", "owners": ["u_owner"], "groups": [{"room": "r2"}]},
    ])
    await restart(c, sh("2026-12-15T09:00:00"), config=two)
    assert [p for cid, p in job.runs if cid == "growth"] == MISSED
    assert [p for cid, p in job.runs if cid == "design"] == []
    await c.tick(sh("2026-12-21T10:01:00"))
    assert [p for cid, p in job.runs if cid == "design"] == [sh("2026-12-21T10:00:00")]
    assert sorted(r["room"] for r in c.sent if "12-21" in r["text"]) == ["r1", "r2"]


# ---- failures ----------------------------------------------------------------------------------------------

async def test_failing_announcement_is_logged_recorded_not_retried_and_the_bot_goes_on(make_chat, caplog):
    job = Recorder("latest", fail=True)
    c = await make_chat(routers=job.routers())
    with caplog.at_level(logging.ERROR, logger="qunbot.scheduler"):
        await c.tick(sh("2026-11-30T10:01:00"))
    first, second = sh("2026-11-23T10:00:00"), sh("2026-11-30T10:00:00")
    assert job.periods == [first, second]
    assert posts(c) == []                                      # its half-done post was rolled back
    assert await job_runs(c) == [(first, "failed"), (second, "failed")]
    failed = [r for r in caplog.records if "post_new_members" in r.getMessage() and r.exc_info]
    assert len(failed) == 2 and "the report generator broke" in str(failed[0].exc_info[1])
    await c.tick(sh("2026-12-03T00:00:00"))
    await restart(c, sh("2026-12-03T00:05:00"))
    assert job.periods == [first, second]                      # not retried, not even after a restart
    replies = await c.say("/roles", "u1")
    assert len(replies) == 1 and "管理角色" in replies[0]


async def test_failing_ledger_job_is_retried_with_backoff_and_later_periods_wait_for_it(make_chat, caplog):
    job = Recorder("each", fail=True)
    c = await make_chat(routers=job.routers())
    first, second = sh("2026-11-23T10:00:00"), sh("2026-11-30T10:00:00")
    with caplog.at_level(logging.ERROR, logger="qunbot.scheduler"):
        await c.tick(sh("2026-11-23T10:03:00"))
    tries = [p for p in job.periods if p == first]
    assert 2 <= len(tries) <= 4                                # 10:00, +30 s, +60 s, +120 s: backing off
    assert await job_runs(c) == []                             # nothing recorded: the period is still owed
    assert "retrying in" in caplog.text
    job.fail = False
    await c.tick(sh("2026-11-30T10:01:00"))
    assert [p for p in job.periods if p != first] == [second]  # the next week ran only after the first one
    assert job.periods[-2:] == [first, second]
    assert await job_runs(c) == [(first, "done"), (second, "done")]
    assert posts(c) == ["周报 2026-11-23 10:00", "周报 2026-11-30 10:00"]


# ---- conflicts with concurrent writes ----------------------------------------------------------------------

class Collider:
    """A ledger job whose first attempt meets a concurrent write (as when a tip in another process took the ledger
    entry number it was about to use)."""

    def __init__(self, error) -> None:
        self.attempts: list[datetime] = []
        self.error = error
        self.router = Router()

        @self.router.job("post_new_members", catch_up="each")
        async def post_new_members(job: JobCtx) -> None:
            self.attempts.append(job.period)
            await job.post_to_groups(f"周报 {job.period.astimezone(SH):%Y-%m-%d %H:%M}")
            if len(self.attempts) == 1:
                raise self.error

    def routers(self) -> tuple[Router, ...]:
        return (*(r for r in ROUTERS if r is not welcome.router), self.router)


@pytest.mark.parametrize("error", [
    IntegrityError("INSERT INTO ledger_entries ...", {}, Exception("UNIQUE constraint failed: ledger_entries.number")),
    OperationalError("UPDATE ledger_accounts ...", {}, Exception("database is locked")),
])
async def test_a_job_that_met_a_concurrent_write_runs_again_at_once(make_chat, caplog, error):
    job = Collider(error)
    c = await make_chat(routers=job.routers())
    with caplog.at_level(logging.INFO, logger="qunbot.scheduler"):
        await c.tick(sh("2026-11-23T10:00:30"))
    assert job.attempts == [MISSED[0], MISSED[0]]
    assert posts(c) == ["周报 2026-11-23 10:00"]                  # the first attempt's post was rolled back
    assert await job_runs(c) == [(MISSED[0], "done")]
    assert "already ran" not in caplog.text and "met a concurrent write" in caplog.text


async def test_only_the_run_record_means_already_ran(make_chat, caplog):
    job = Recorder("each")
    c = await make_chat(routers=job.routers())
    async with c.app.sessions.begin() as db:                        # another process ran this period already
        db.add(JobRun(job="post_new_members", community_id="growth", period=MISSED[0], status="done",
                      ran_at=MISSED[0]))
    with caplog.at_level(logging.INFO, logger="qunbot.scheduler"):
        await c.tick(sh("2026-11-23T10:00:30"))
    assert job.runs == [] and posts(c) == []
    assert "post_new_members for growth at 2026-11-23T10:00:00+08:00 already ran" in caplog.text
