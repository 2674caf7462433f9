"""Two bot processes on one real PostgreSQL database: the points ledger cannot be overspent and a week is paid
once, whichever process gets there first."""
import asyncio
import logging
from datetime import datetime

from sqlalchemy import func, select

from bot.adapters.base import IncomingMessage
from models import LedgerAccount, LedgerEntry, WeeklyResult
from tests import pg
from tests.conftest import Chat, make_config


async def _two_processes():
    url, name = await pg.create_database()
    first = Chat(make_config(), url)
    await first.start()
    second = Chat(make_config(), url)
    await second.start(members=())
    second.clock.set(first.clock.now())
    return url, name, first, second


async def test_concurrent_tips_from_two_processes_cannot_overspend():
    url, name, first, second = await _two_processes()
    try:
        now = first.clock.now()
        tips = [IncomingMessage(f"pg-tip-{i}", "r1", "u1", "张三", "/打赏 @李四 60", now, mention_ids=("u2",))
                for i in range(2)]
        await asyncio.gather(first.driver.handle(tips[0]), second.driver.handle(tips[1]))
        await first.flush()
        await second.flush()
        texts = [r["text"] for r in first.sent + second.sent]
        assert sum(t.startswith("张三 打赏了 @李四 60 分") for t in texts) == 1, texts
        assert sum(t.startswith("@张三 本周额度只剩 40 分，不够打赏 60 分") for t in texts) == 1, texts
        async with first.app.sessions() as db:
            grants = await db.scalar(select(func.count()).where(LedgerEntry.kind == "grant"))
            received = await db.scalar(select(LedgerAccount.balance).where(LedgerAccount.key.like("received:%")))
            total = await db.scalar(select(func.sum(LedgerAccount.balance)).where(LedgerAccount.unit == "points"))
        assert (grants, received, total) == (1, 60, 0)
    finally:
        await first.close()
        await second.close()
        await pg.drop_database(name)


async def test_a_week_is_paid_once_when_two_processes_run_the_job():
    url, name, first, second = await _two_processes()
    try:
        await first.say("/基金 入账 5200 捐赠", "u_owner")
        await first.say("/提问 怎么做增长\n背景", "u1")
        await first.say("/回答 Q1 先找种子用户", "u2")
        await first.say("/打赏 A1 10", "u1")
        monday = datetime.fromisoformat("2026-11-30T00:00:30+08:00")
        await asyncio.gather(first.tick(monday), second.tick(monday))
        async with first.app.sessions() as db:
            rewards = list(await db.scalars(select(LedgerEntry.amount).where(LedgerEntry.kind == "reward")))
            results = await db.scalar(select(func.count()).select_from(WeeklyResult))
        assert rewards == [5200_00 // 52 * 50 // 100] and results == 1
    finally:
        await first.close()
        await second.close()
        await pg.drop_database(name)


async def _waiting_on_a_lock(db_name: str) -> bool:
    import asyncpg

    conn = await asyncpg.connect(pg.ADMIN_URL)
    try:
        return bool(await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'", db_name))
    finally:
        await conn.close()


async def _hold_until_waited_for(name: str, db, task) -> None:
    """Keep `db`'s transaction open until the other process's transaction waits for its locks, then commit."""
    for _ in range(2000):
        if await _waiting_on_a_lock(name):
            break
        await asyncio.sleep(0)
    else:
        raise AssertionError("the other transaction never waited for this one's locks")
    await db.commit()
    await task


async def test_a_tip_waiting_for_another_process_tip_is_answered_with_what_is_left():
    from bot import roster
    from handlers import tips

    url, name, first, second = await _two_processes()
    try:
        app = second.app
        async with app.sessions() as db:
            await db.begin()
            # The other process is in the middle of u1's first tip of the week: allowance granted, 60 spent.
            ctx = await app.runtime.context(db, "growth", cause="other-process")
            giver = await roster.get_member(db, "growth", "u1")
            await tips.give(ctx, giver, await roster.get_member(db, "growth", "u2"), 60)
            task = asyncio.create_task(first.driver.handle(IncomingMessage(
                "pg-tip", "r1", "u1", "张三", "/打赏 @李四 60", first.clock.now(), mention_ids=("u2",))))
            await _hold_until_waited_for(name, db, task)
        replies = [r["text"] for r in await first.flush()]
        assert replies == ["@张三 本周额度只剩 40 分，不够打赏 60 分。额度在每周开始时重置。"]
    finally:
        await first.close()
        await second.close()
        await pg.drop_database(name)


async def test_a_question_numbered_by_another_process_meanwhile_is_run_again_and_gets_the_next_id(caplog):
    from bot import roster
    from models import Question

    caplog.set_level(logging.WARNING, logger="qunbot.dispatch")
    url, name, first, second = await _two_processes()
    try:
        async with second.app.sessions() as db:
            await db.begin()
            asker = await roster.get_member(db, "growth", "u2")
            now = second.clock.now()
            db.add(Question(community_id="growth", number=1, asker_id=asker.id, title="另一个进程的问题",
                            asked_at=now, session_at=now, status="open", hidden=False, cause="other-process"))
            await db.flush()
            task = asyncio.create_task(first.driver.handle(IncomingMessage(
                "pg-ask", "r1", "u1", "张三", "/提问 怎么做增长\n背景", first.clock.now())))
            await _hold_until_waited_for(name, db, task)
        replies = [r["text"] for r in await first.flush()]
        assert len(replies) == 1 and replies[0].startswith("已登记问题 Q2「怎么做增长」"), replies
        assert "met a concurrent write" in caplog.text
    finally:
        await first.close()
        await second.close()
        await pg.drop_database(name)


async def test_a_weekly_payout_waits_for_another_process_ledger_write_instead_of_colliding(caplog):
    """The payout job and a treasurer's entry in another process would take the same entry number: the job waits
    for the community's ledger lock, then numbers after it, and pays once."""
    from handlers.fund import cash
    from models.ledger import post

    url, name, first, second = await _two_processes()
    try:
        await first.say("/基金 入账 5200 捐赠", "u_owner")                    # entry #1
        await first.say("/提问 怎么做增长\n背景", "u1")
        await first.say("/回答 Q1 先找种子用户", "u2")
        await first.say("/打赏 A1 10", "u1")
        monday = datetime.fromisoformat("2026-11-30T00:00:30+08:00")
        await first.tick(datetime.fromisoformat("2026-11-29T23:59:00+08:00"))
        app = second.app
        second.clock.set(monday)
        with caplog.at_level(logging.INFO, logger="qunbot.scheduler"):
            async with app.sessions() as db:
                await db.begin()
                ctx = await app.runtime.context(db, "growth", cause="other-process", now=monday)
                # An ops fee (#2, not committed yet): no account in common with the payout, only the numbering.
                await post(db, await cash(ctx, "external"), await cash(ctx, "ops"), 100_00, kind="ops_fee",
                           key="in:other-process", cause="other-process", now=monday)
                task = asyncio.create_task(first.tick(monday))
                await _hold_until_waited_for(name, db, task)
        async with first.app.sessions() as db:
            entries = [(e.number, e.kind) for e in await db.scalars(
                select(LedgerEntry).where(LedgerEntry.unit == "fen").order_by(LedgerEntry.number))]
            results = await db.scalar(select(func.count()).select_from(WeeklyResult))
        assert entries == [(1, "donation"), (2, "ops_fee"), (3, "reward")]
        assert results == 1
        assert "already ran" not in caplog.text
    finally:
        await first.close()
        await second.close()
        await pg.drop_database(name)


async def _other_process(app, db, at=None):
    return await app.runtime.context(db, "growth", cause="other-process", now=at)


async def test_a_tip_waits_for_an_answer_hidden_in_another_process_and_is_refused():
    from sqlalchemy import update

    from models import Answer
    from models.ledger import lock_community

    url, name, first, second = await _two_processes()
    try:
        await first.say("/提问 怎么做增长\n背景", "u1")
        await first.say("/回答 Q1 广告", "u2")
        async with second.app.sessions() as db:
            await db.begin()
            await lock_community(db, "growth")                  # as /隐藏 A1 does first
            await db.execute(update(Answer).where(Answer.number == 1).values(hidden=True, hidden_by="u_owner"))
            task = asyncio.create_task(first.driver.handle(IncomingMessage(
                "pg-tip-hidden", "r1", "u3", "王五", "/打赏 A1 30", first.clock.now())))
            await _hold_until_waited_for(name, db, task)
        replies = [r["text"] for r in await first.flush()]
        assert replies == ["@王五 没有找到回答 A1。回答编号以 A 开头，发送 /问题 Q编号 可以看到。"]
        async with first.app.sessions() as db:
            assert await db.scalar(select(func.count()).where(LedgerEntry.kind == "tip")) == 0
    finally:
        await first.close()
        await second.close()
        await pg.drop_database(name)


async def test_opening_an_account_takes_the_ledger_lock_so_two_tips_do_not_deadlock(caplog):
    """Another process opens 赵六's received-points account (as a tip to him does) while 李四's first tip of the
    week to him runs here: one waits for the other instead of each holding what the other needs."""
    from bot import roster
    from handlers import tips
    from models.ledger import POINTS, account

    url, name, first, second = await _two_processes()
    try:
        await first.members("r1", ["u_owner", "u1", "u2", "u3", "u4"])
        app = second.app
        with caplog.at_level(logging.WARNING):
            async with app.sessions() as db:
                await db.begin()
                ctx = await _other_process(app, db, second.clock.now())
                receiver = await roster.get_member(db, "growth", "u4")
                await account(db, "growth", POINTS, f"received:{receiver.id}", member_id=receiver.id)
                task = asyncio.create_task(first.driver.handle(IncomingMessage(
                    "pg-tip-first", "r1", "u2", "李四", "/打赏 @赵六 5", first.clock.now(), mention_ids=("u4",))))
                for _ in range(2000):
                    if await _waiting_on_a_lock(name):
                        break
                    await asyncio.sleep(0)
                # ... and this process's tip goes on to post, needing what the other one may hold.
                await tips.give(ctx, await roster.get_member(db, "growth", "u1"), receiver, 3)
                await db.commit()
                await task
        replies = [r["text"] for r in await first.flush()]
        assert len(replies) == 1 and replies[0].startswith("李四 打赏了 @赵六 5 分"), replies
        assert "deadlock" not in caplog.text
    finally:
        await first.close()
        await second.close()
        await pg.drop_database(name)
