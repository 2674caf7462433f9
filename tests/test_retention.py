"""Nothing grows forever: handled event ids, outgoing messages done with and job run records are deleted once
older than config.yaml's retention windows, without letting a redelivery through or a job period run twice."""
import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy import func, insert, select

from bot.adapters.recording import RecordingAdapter
from bot.app import App
from bot.config import RetentionConfig
from models import JobCursor, JobRun, OutboxMessage, ProcessedEvent
from models.outbox import CANCELLED, FAILED, LOST, PENDING, SENDING, SENT, SHED
from scheduler.retention import prune
from tests import pg
from tests.conftest import START, Chat, make_config, sh, to
from tests.test_hidden import spam_answer_tipped
from tests.test_ranking import EMPTY
from tests.test_scheduler import Recorder, posts, restart

DAY = timedelta(days=1)


async def event_ids(chat) -> set[str]:
    async with chat.app.sessions() as db:
        return set(await db.scalars(select(ProcessedEvent.event_id)))


async def outbox_causes(chat) -> set[str]:
    async with chat.app.sessions() as db:
        return set(await db.scalars(select(OutboxMessage.cause)))


async def runs_of(chat, job: str, community: str = "growth") -> list[JobRun]:
    async with chat.app.sessions() as db:
        return list(await db.scalars(select(JobRun).where(JobRun.job == job, JobRun.community_id == community)
                                     .order_by(JobRun.period)))


async def test_old_bookkeeping_goes_and_recent_stays(chat, caplog):
    assert len(await chat.say("/roles", "u1", id="old")) == 1
    await chat.tick(START + 25 * DAY)
    assert len(await chat.say("/roles", "u2", id="recent")) == 1
    assert {"old", "recent"} <= await event_ids(chat)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="qunbot.retention"):
        await chat.tick(START + 31 * DAY)
    ids = await event_ids(chat)
    assert "recent" in ids and "old" not in ids
    causes = await outbox_causes(chat)
    assert "recent" in causes and "old" not in causes
    lines = [r.getMessage() for r in caplog.records if r.name == "qunbot.retention"]
    assert len(lines) == 6                                      # one a day, at 04:30
    nothing = ("retention: deleted handled event ids 0 (older than 30 days), outgoing messages 0 (30 days), "
               "job run records 0 (90 days), chat messages 0 (180 days)")
    # the member list at START and the old /roles passed 30 days at the last run
    assert lines == [nothing] * 5 + ["retention: deleted handled event ids 2 (older than 30 days), outgoing "
                                     "messages 1 (30 days), job run records 0 (90 days), chat messages 0 (180 days)"]


async def test_a_redelivery_inside_the_window_is_still_ignored_after_pruning(chat):
    assert len(await chat.say("/roles", "u1", id="wx-1")) == 1
    await chat.tick(START + 29 * DAY)                           # the daily job has run 29 times
    assert await chat.say("/roles", "u1", id="wx-1") == []      # still a redelivery: no second reply
    await chat.tick(START + 31 * DAY)
    assert len(await chat.say("/roles", "u1", id="wx-1")) == 1  # past the window the id is new again


async def test_messages_still_to_be_sent_are_never_pruned(chat):
    old = START - 400 * DAY
    rows = {status: f"{status} long ago" for status in (PENDING, SENDING, SENT, FAILED, LOST, SHED, CANCELLED)}
    async with chat.app.sessions.begin() as db:
        await db.execute(insert(OutboxMessage), [
            dict(chat_key="room:r1", text=text, mentions=[], status=status, not_before=old, created_at=old,
                 sent_at=old if status == SENT else None) for status, text in rows.items()])
        # sent today, though written long ago (the platform was out of reach): kept for its window
        await db.execute(insert(OutboxMessage).values(chat_key="room:r1", text="sent late", mentions=[],
                                                      status=SENT, not_before=old, created_at=old, sent_at=START))
    pruned = await prune(chat.app.sessions, chat.config.retention, chat.clock.now())
    assert pruned.messages == 5
    async with chat.app.sessions() as db:
        left = set(await db.scalars(select(OutboxMessage.text)))
    assert {"pending long ago", "sending long ago", "sent late"} <= left
    assert not left & {"sent long ago", "failed long ago", "lost long ago", "shed long ago", "cancelled long ago"}
    assert [r["text"] for r in await chat.flush()] == ["pending long ago"]     # and it still goes out


@asynccontextmanager
async def four_months_with_a_process_behind(make_chat, catch_up: str) -> AsyncIterator[tuple[Recorder, Chat]]:
    """A weekly job runs for four months (pruning on the way) while a second process on the database, which loaded
    its cursors at the start, has fallen far behind (suspended, say). Afterwards the first one restarts and the
    second runs what it believes is due: no period runs twice."""
    job = Recorder(catch_up)
    c = await make_chat(routers=job.routers())
    other_sent: list = []
    other = App(c.config, RecordingAdapter(other_sent.append), c.clock, database_url=c.db_url,
                routers=c.driver.routers)
    await other.start()
    try:
        await c.tick(START + 120 * DAY)
        ran = list(job.runs)
        assert len(ran) == 18                                   # every Monday, once
        yield job, c
        await restart(c, c.clock.now() + timedelta(minutes=1))
        await other.run_due(c.clock.now())
        for _ in range(3):
            await other.sender.send_due(c.clock.now())
        await c.flush()
        assert job.runs == ran
        assert len(posts(c)) == 18 and not [o for o in other_sent if o.text.startswith("周报")]
    finally:
        await other.close()


async def test_announcement_run_records_go_and_no_period_runs_twice(make_chat):
    async with four_months_with_a_process_behind(make_chat, "latest") as (job, c):
        kept = await runs_of(c, "post_new_members")
        assert [r.period for r in kept] == job.periods[5:]      # the five older than 90 days are gone
        assert all(r.ran_at >= c.clock.now() - 90 * DAY for r in kept)


async def test_ledger_run_records_go_too_and_a_period_whose_record_went_never_runs_again(make_chat):
    async with four_months_with_a_process_behind(make_chat, "each") as (job, c):
        # The cursors know which periods ran: a ledger period whose record went can never run again.
        assert [r.period for r in await runs_of(c, "post_new_members")] == job.periods[5:]


async def test_a_community_no_longer_served_holds_back_no_pruning_and_runs_nothing_twice_when_back(make_chat):
    """Each run record stays only until its own job's cursor has passed it: a community taken out of config.yaml
    (its cursors left where they were) holds back nobody's pruning, and when it is served again nothing runs twice."""
    both = make_config(top_communities=[
        {"id": "growth", "name": "增长学习社", "owners": ["u_owner"], "groups": [{"room": "r1"}]},
        {"id": "design", "name": "设计学习社", "owners": ["u_owner"], "groups": [{"room": "r2"}]},
    ])
    job = Recorder("latest")
    c = await make_chat(routers=job.routers())
    await restart(c, START + 8 * DAY, config=both)              # design starts on Tuesday of the second week
    await c.tick(START + 15 * DAY)
    await restart(c, START + 15 * DAY, config=make_config())    # and is taken out of config.yaml a week later
    await c.tick(START + 120 * DAY)
    async with c.app.sessions() as db:
        dormant = await db.scalar(select(func.min(JobCursor.last_fire)).where(JobCursor.community_id == "design"))
    assert dormant < START + 15 * DAY
    growth = [p for cid, p in job.runs if cid == "growth"]
    kept = await runs_of(c, "post_new_members")
    assert kept and all(r.ran_at >= c.clock.now() - 90 * DAY for r in kept)     # the older ones went all the same
    assert [r.period for r in kept] == [p for p in growth if p >= kept[0].period] != growth
    assert await runs_of(c, "post_new_members", "design") == []  # its own, older than 90 days, went too
    await restart(c, c.clock.now() + timedelta(minutes=1), config=both)   # design comes back
    assert [p for cid, p in job.runs if cid == "design"] == [sh("2026-12-07T10:00:00"), sh("2027-03-22T10:00:00")]
    assert len(set(job.runs)) == len(job.runs)                  # nothing ran twice


async def test_hiding_an_answer_paid_for_months_ago_still_corrects_the_all_time_totals(make_chat):
    """The weeks paid are known from the payout job's cursor, not from its run records, which may be gone."""
    c = await make_chat(moderators=["u3"], members=("u_owner", "u1", "u2", "u3", "u4"))
    await spam_answer_tipped(c)
    await c.tick(START + 150 * DAY)
    [all_time] = await c.say("/排行 全部", "u1")
    assert all_time.split("\n")[1] == "1. 赵六 100 分（打赏 90 · 最佳 0 · 帮助 1 人）"
    assert (await c.say("/隐藏 A1", "u3"))[0].startswith("A1 已隐藏")
    assert await c.say("/排行 全部", "u1") == [to('u1', EMPTY)]
    paid = await runs_of(c, "pay_weekly_rewards")
    assert len(paid) < 21 and paid[0].ran_at >= c.clock.now() - 90 * DAY       # the records of old weeks went


async def test_processes_pruning_at_once_on_postgresql_neither_wait_nor_collide():
    url, name = await pg.create_database()
    chats = [Chat(make_config(), url) for _ in range(2)]
    try:
        await chats[0].start()
        await chats[1].start(members=())
        async with chats[0].app.sessions.begin() as db:
            await db.execute(insert(ProcessedEvent), [
                dict(event_id=f"e{i}", handled_at=START - (40 if i < 2500 else 10) * DAY) for i in range(3000)])
        async with chats[0].app.sessions() as busy:             # a third process, in the middle of its batch
            await busy.execute(select(ProcessedEvent).where(ProcessedEvent.event_id.in_([f"e{i}" for i in range(100)]))
                               .with_for_update())
            done = await asyncio.wait_for(asyncio.gather(
                *(prune(c.app.sessions, RetentionConfig(), START, batch=100) for c in chats)), timeout=30)
            assert sum(p.events for p in done) == 2400          # each row once; the busy ones skipped, not waited for
        assert (await prune(chats[0].app.sessions, RetentionConfig(), START)).events == 100
        async with chats[0].app.sessions() as db:
            assert await db.scalar(select(func.count()).select_from(ProcessedEvent)) == 500 + 1   # + the member list
    finally:
        for c in chats:
            await c.close()
        await pg.drop_database(name)
