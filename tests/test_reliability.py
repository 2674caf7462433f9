"""Every event once; failures contained and rolled back; floods slowed; the bot keeps running."""
import logging
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from bot.app import ROUTERS
from bot.context import Ctx
from bot.dispatch import RateLimiter
from bot.router import Router
from models import Flow, OutboxMessage, ProcessedEvent
from models import Member as Member_
from tests.conftest import START, to

APOLOGY = "抱歉，处理这条命令时出错了，已记录下来。请稍后再试。"

failing = Router()


@failing.command("boom", aliases=("爆炸",), hidden=True)
async def boom(ctx: Ctx) -> None:
    """Writes, then fails: the write must not survive."""
    ctx.db.add(Flow(community_id=ctx.community.id, user_id=ctx.sender_id, kind="signup", step="ask",
                    chat_key=ctx.chat.key, data={}, expires_at=ctx.now + timedelta(hours=1)))
    await ctx.reply("cancel.ok")
    raise RuntimeError("disk on fire")


async def count(chat, model) -> int:
    async with chat.app.sessions() as db:
        return await db.scalar(select(func.count()).select_from(model))


async def test_redelivered_command_changes_nothing(chat):
    first = await chat.say("/signup 城市=北京; 擅长=增长", "u1", id="wx-1")
    assert len(first) == 1 and "请确认你的资料" in first[0]
    assert await chat.say("/signup 城市=北京; 擅长=增长", "u1", id="wx-1") == []
    assert await chat.say("/agree", "u1", id="wx-2") != []
    assert await chat.say("/agree", "u1", id="wx-2") == []
    assert await chat.say("/agree", "u1", id="wx-3") == [to('u1', "没有等待确认的登记。发送 /登记 开始。")]


async def test_redelivered_user_error_is_answered_once(chat):
    assert await chat.say("/who", "u1", id="wx-9") == [to('u1', "用法：/找人 关键词（例如 /找人 增长 文案），或 /找人 @成员 查看资料")]
    assert await chat.say("/who", "u1", id="wx-9") == []


async def test_redelivered_guided_answer_is_taken_once(chat):
    await chat.say("/signup", "u1")
    assert "（2/9）" in (await chat.dm("北京", "u1", id="dm-1"))[0]
    assert await chat.dm("北京", "u1", id="dm-1") == []
    assert "（3/9）" in (await chat.dm("产品经理", "u1", id="dm-2"))[0]


async def test_handler_failure_is_contained_and_rolled_back(make_chat, caplog):
    c = await make_chat(routers=(*ROUTERS, failing))
    with caplog.at_level(logging.ERROR):
        assert await c.say("/boom", "u1", id="m-boom") == [to('u1', APOLOGY)]
    assert any("m-boom" in r.getMessage() for r in caplog.records)
    assert await count(c, Flow) == 0                       # the handler's write was rolled back
    assert await c.say("/boom", "u1", id="m-boom") == []   # a redelivery is not answered twice
    replies = await c.say("/help", "u1")                   # and the bot keeps running
    assert len(replies) == 1 and "/找人 /who" in replies[0]


async def test_flooding_member_is_slowed_with_one_notice(chat):
    step = timedelta(seconds=1)
    answered = [await chat.say("/roles", "u2", step=step) for _ in range(8)]
    assert all(len(r) == 1 and "管理角色" in r[0] for r in answered)
    assert await chat.say("/roles", "u2", step=step) == ["@李四 命令发得太快了，请稍等半分钟再试。"]
    assert chat.sent[-1]["mentions"] == ["u2"]
    assert await chat.say("/roles", "u2", step=step) == []
    assert await chat.say("/roles", "u2", step=step) == []
    # other members are not affected
    assert len(await chat.say("/roles", "u1", step=step)) == 1
    # after the window the member is answered again
    assert len(await chat.say("/roles", "u2", step=timedelta(seconds=31))) == 1


async def test_a_member_s_realistic_burst_is_answered(chat):
    """Five commands in ten seconds (a signup, a look at it, a search, the points): all answered."""
    step = timedelta(seconds=2)
    for text in ("/登记 城市=北京", "/同意", "/资料", "/找人 北京", "/积分"):
        assert len(await chat.say(text, "u2", step=step)) == 1, text


async def test_a_treasurer_recording_the_week_s_fees_is_not_held_to_the_member_limit(make_chat):
    c = await make_chat(treasurers=["u3"])
    for n in range(1, 13):          # twelve entries three seconds apart: every one is recorded and answered
        [reply] = await c.say("/基金 入账 @李四 200 入群费", "u3", mentions=["u2"], step=timedelta(seconds=3))
        assert reply.startswith(f"已记账 #{n}：入群费 ¥200.00"), reply
    assert len(await c.say("/roles", "u_owner", step=timedelta(seconds=1))) == 1


async def test_staff_have_a_safety_limit_of_their_own(make_chat):
    c = await make_chat(top_rate_limit={"commands": 2, "per_seconds": 30, "staff_commands": 4,
                                        "staff_per_seconds": 60})
    step = timedelta(seconds=1)
    assert [len(await c.say("/roles", "u_owner", step=step)) for _ in range(4)] == [1, 1, 1, 1]
    assert await c.say("/roles", "u_owner", step=step) == ["@老王 命令发得太快了，请稍等半分钟再试。"]
    assert await c.say("/roles", "u_owner", step=step) == []
    # a member is held to the member limit meanwhile
    assert [len(await c.say("/roles", "u2", step=step)) for _ in range(4)] == [1, 1, 1, 0]


async def test_the_rate_limit_can_be_turned_off(make_chat):
    c = await make_chat(top_rate_limit={"enabled": False, "commands": 1})
    replies = [await c.say("/roles", "u2", step=timedelta(seconds=0.5)) for _ in range(20)]
    assert all(len(r) == 1 and "管理角色" in r[0] for r in replies)


def test_the_rate_limiter_forgets_members_whose_window_has_passed():
    limiter = RateLimiter(limit=2, window=30)
    for i in range(1000):
        assert limiter.check(f"m{i}", START) == "ok"
    later = [START + timedelta(seconds=s) for s in (10, 30, 35, 40)]
    assert [limiter.check("flooder", later[0]) for _ in range(4)] == ["ok", "ok", "notice", "quiet"]
    assert limiter.remembered == 1001
    assert limiter.check("m0", later[1]) == "ok"
    assert limiter.remembered == 2                      # the thousand whose window passed are forgotten
    assert limiter.check("flooder", later[2]) == "quiet"                # still inside their window: held back
    assert limiter.check("flooder", later[3]) == "ok"
    assert limiter.remembered == 2


async def test_plain_chat_is_not_recorded_as_events(chat):
    before = await count(chat, ProcessedEvent)
    for i in range(5):
        assert await chat.say(f"大家好 {i}", "u2") == []
    assert await count(chat, ProcessedEvent) == before


async def test_restart_sends_pending_replies_once(chat):
    """The process dies right after handling: the paced replies are still sent, once, after the restart."""
    at = chat.clock.now() + timedelta(seconds=10)
    await chat.say("/roles", "u1", at=at, drain=False)
    await chat.say("/roles", "u2", at=at, drain=False)
    await chat.say("/roles", "u3", at=at, drain=False)
    sent_before = len(chat.sent)
    assert sent_before <= 1                       # pacing holds the rest
    await chat.driver.restart(at + timedelta(minutes=5))
    await chat.flush()
    roles_replies = [r for r in chat.sent if "管理角色" in r.get("text", "")]
    assert len(roles_replies) == 3


async def test_serve_survives_a_failing_round(make_chat, caplog):
    """A database hiccup in the scheduler/outbox loop is logged and retried; the bot keeps running."""
    import asyncio
    import contextlib


    c = await make_chat()
    app = c.app
    started = asyncio.Event()

    async def run_forever(on_event):
        started.set()
        await asyncio.Event().wait()

    app.adapter.run = run_forever
    calls = 0
    real = app.sender.send_due

    async def flaky(now):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OperationalError("UPDATE outbox", {}, Exception("database is locked"))
        return await real(now)

    app.sender.send_due = flaky
    task = asyncio.create_task(app.serve())
    await started.wait()
    with caplog.at_level(logging.ERROR):
        for _ in range(200):          # the loop backs off for a (real) second or two, then tries again
            if calls >= 2:
                break
            await asyncio.sleep(0.02)
    assert calls >= 2 and not task.done()
    assert any("round failed" in r.getMessage() for r in caplog.records)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_concurrent_events_from_two_processes_on_postgresql():
    """Member lists and first commands racing in two bot processes: no apology, nothing lost or doubled."""
    import asyncio

    from bot.adapters.base import IncomingMessage, Member, MembersEvent
    from bot.adapters.recording import RecordingAdapter
    from bot.app import App
    from bot.clock import FakeClock
    from models.db import create_engine, upgrade
    from tests import pg
    from tests.conftest import START, make_config

    url, name = await pg.create_database()
    try:
        engine = create_engine(url)
        await upgrade(engine)
        await engine.dispose()
        clock = FakeClock(START)
        apps = [App(make_config(), RecordingAdapter(lambda out: None), clock, database_url=url) for _ in range(2)]
        for app in apps:
            await app.start(migrate=False)
        for i in range(10):
            users = [f"n{i}_{k}" for k in range(20)]
            events = [MembersEvent(f"m{i}", "r1", tuple(Member(u, u) for u in users), clock.now())]
            events += [IncomingMessage(f"c{i}_{k}", "r1", users[k], users[k], "/roles", clock.now())
                       for k in (0, 7, 19)]
            await asyncio.gather(*(app.handle(e) for app in apps for e in events))
        async with apps[0].sessions() as db:
            texts = list(await db.scalars(select(OutboxMessage.text)))
            members = await db.scalar(select(func.count()).select_from(Member_))
        assert len(texts) == 30 and not [t for t in texts if "出错了" in t]
        assert members == 200 + 1      # the configured owner, and everyone listed, once
        for app in apps:
            await app.close()
    finally:
        await pg.drop_database(name)


async def test_a_failing_adapter_is_restarted_then_given_up_when_configured(make_chat, caplog):
    """Each failed start is logged and retried with backoff; adapter.max_failures ends it (exit non-zero)."""
    c = await make_chat(top_adapter={"max_failures": 2, "retry_max_seconds": 0.05})
    starts = 0

    async def refuse(on_event):
        nonlocal starts
        starts += 1
        raise ConnectionError("puppet service unreachable")

    c.app.adapter.run = refuse
    with caplog.at_level(logging.INFO):
        try:
            await c.app.serve()
        except ConnectionError:
            pass
        else:
            raise AssertionError("serve() should give up")
    assert starts == 2
    messages = [r.getMessage() for r in caplog.records]
    assert any("restart 1 in" in m for m in messages) and any("giving up after 2" in m for m in messages)


class LockedOnce:
    """Join and leave hooks whose first call meets a database locked past its timeout."""

    def __init__(self) -> None:
        self.calls = 0
        self.router = Router()
        self.router.on_join(self.hook)
        self.router.on_leave(self.hook)

    async def hook(self, ctx) -> None:
        self.calls += 1
        if self.calls == 1:
            raise OperationalError("INSERT INTO room_members ...", {}, Exception("database is locked"))


async def test_a_join_that_met_a_locked_database_is_handled_again(make_chat, caplog):
    locked = LockedOnce()
    c = await make_chat(routers=(*ROUTERS, locked.router))
    with caplog.at_level(logging.WARNING, logger="qunbot.dispatch"):
        await c.join("u4")
        rows = await c.flush()
    assert locked.calls == 2
    assert [r["mentions"] for r in rows] == [["u4"]] and rows[0]["text"].startswith("欢迎 @赵六 加入")
    assert "met a concurrent write" in caplog.text and "could not be handled" not in caplog.text
    assert (await c.say("/tip @赵六 1", "u1", mentions=["u4"]))[0].startswith("张三 打赏了 @赵六")   # recorded


async def test_a_leave_that_met_a_locked_database_is_handled_again(make_chat):
    locked = LockedOnce()
    c = await make_chat(routers=(*ROUTERS, locked.router))
    await c.leave("u3")
    assert locked.calls == 2
    assert await c.say("/tip @王五 1", "u1", mentions=["u3"]) == [to('u1', "群里没有「王五」。")]


async def test_a_member_list_that_met_a_locked_database_is_applied_again(make_chat, monkeypatch):
    from bot import roster

    c = await make_chat()
    real, calls = roster.sync_room, []

    async def locked_once(*args, **kw):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("UPDATE room_members ...", {}, Exception("database is locked"))
        return await real(*args, **kw)

    monkeypatch.setattr(roster, "sync_room", locked_once)
    await c.members("r1", ["u_owner", "u1", "u2", "u3", "u4"])
    assert len(calls) == 2
    assert (await c.say("/tip @赵六 1", "u1", mentions=["u4"]))[0].startswith("张三 打赏了 @赵六")
