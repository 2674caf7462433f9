"""Outgoing messages: split on line boundaries, paced per chat, retried when the platform hiccups, never twice."""
import logging
from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update

from bot.adapters.base import NotConnected, SendError
from bot.app import ROUTERS
from bot.context import Ctx
from bot.i18n import t
from bot.outbox import split_text
from bot.router import Router
from models import OutboxMessage
from models.outbox import FAILED, LOST, SENDING, SENT

ROLES = "「增长学习社」的管理角色："


def at_of(row) -> datetime:
    return datetime.fromisoformat(row["at"])


def fail_first(chat, n: int, error: Exception):
    """Make the platform refuse the next n sends; returns the simulated times of every attempt."""
    real_send = chat.driver.adapter.send
    attempts: list[datetime] = []

    async def send(out):
        attempts.append(chat.clock.now())
        if len(attempts) <= n:
            raise error
        await real_send(out)

    chat.driver.adapter.send = send
    return attempts


async def outbox_rows(chat) -> list[OutboxMessage]:
    async with chat.app.sessions() as db:
        return list(await db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


# ---- split_text ------------------------------------------------------------------------------------------

_chars = st.sampled_from("增长学习社群ab c,。")


@st.composite
def texts_and_limits(draw, *, blank_lines: bool = True, long_lines: bool = True):
    limit = draw(st.integers(min_value=1, max_value=40))
    max_size = 30 if long_lines else limit
    line = st.text(_chars, min_size=0 if blank_lines else 1, max_size=max_size)
    lines = draw(st.lists(line, min_size=1, max_size=25))
    return "\n".join(lines), limit


@given(texts_and_limits())
def test_no_chunk_is_longer_than_the_limit(case):
    text, limit = case
    chunks = split_text(text, limit)
    assert chunks and all(len(c) <= limit for c in chunks)


@given(texts_and_limits())
def test_no_character_is_lost(case):
    text, limit = case
    chunks = split_text(text, limit)
    assert "".join(chunks).replace("\n", "") == text.replace("\n", "")
    if len(text) > limit:
        assert all(chunks), "an empty message would be sent"


@given(texts_and_limits(blank_lines=False, long_lines=False))
def test_chunks_joined_by_newlines_give_the_text_back(case):
    """Lines that fit are never cut, so the messages read back as the text.

    (Blank lines are left out of this property: one falling exactly on a message boundary is dropped rather
    than sent as an empty message or at the start of the next one.)
    """
    text, limit = case
    assert "\n".join(split_text(text, limit)) == text


@given(texts_and_limits())
def test_a_line_that_fits_is_never_split(case):
    text, limit = case
    chunk_lines = [line for chunk in split_text(text, limit) for line in chunk.split("\n")]
    for line in text.split("\n"):
        if 0 < len(line) <= limit:
            assert line in chunk_lines


@given(st.text(_chars, max_size=40), st.integers(min_value=1, max_value=60))
def test_a_text_that_fits_is_one_message(text, limit):
    if len(text) <= limit:
        assert split_text(text, limit) == [text]


def test_split_prefers_line_boundaries():
    text = "\n".join(["一" * 4, "二" * 4, "三" * 4])
    assert split_text(text, 9) == ["一" * 4 + "\n" + "二" * 4, "三" * 4]
    assert split_text("一" * 10, 4) == ["一" * 4, "一" * 4, "一" * 2]


def test_a_byte_cap_splits_chinese_text_that_fits_in_characters():
    """WeCom counts bytes (20,480 per message): 10,000 Chinese characters are 30,000 bytes of UTF-8."""
    lines = ["增长学习社" * 100] * 20                      # 20 lines of 500 characters, 1,500 bytes each
    chunks = split_text("\n".join(lines), 20_000, 20_480)
    assert [len(c.encode()) for c in chunks] == [13 * 1500 + 12, 7 * 1500 + 6]      # whole lines only
    assert "\n".join(chunks) == "\n".join(lines)
    assert split_text("增" * 10, 100, 12) == ["增" * 4, "增" * 4, "增" * 2]     # one line, cut by bytes


@given(texts_and_limits(), st.integers(min_value=3, max_value=60))
def test_no_chunk_is_longer_than_the_byte_cap_and_nothing_is_lost(case, max_bytes):
    text, limit = case
    chunks = split_text(text, limit, max_bytes)
    assert all(len(c.encode()) <= max_bytes and len(c) <= limit for c in chunks)
    assert "".join(chunks).replace("\n", "") == text.replace("\n", "")


def test_platform_limits_tighten_the_configured_pacing():
    from bot.config import PacingConfig, PlatformLimits

    mine = PacingConfig(per_minute=10, max_bytes=4000)
    tight = mine.within(PlatformLimits(max_bytes=20_480, per_minute=30, per_hour=1000))
    assert (tight.max_bytes, tight.per_minute, tight.per_hour) == (4000, 10, 1000)
    assert mine.within(None) is mine


# ---- long replies ----------------------------------------------------------------------------------------

longs = Router()
LONG_LINES = [f"第{i:02d}条：" + "增长学习" * 4 for i in range(1, 31)]


@longs.command("long", hidden=True)
async def long_reply(ctx: Ctx) -> None:
    """A reply of many lines that @-mentions the sender."""
    await ctx.reply_text(f"@{ctx.event.sender_name} 你要的清单：\n" + "\n".join(LONG_LINES),
                         mentions=(ctx.sender_id,))


async def test_long_reply_is_sent_as_several_messages_split_on_lines(make_chat):
    c = await make_chat(routers=(*ROUTERS, longs), top_pacing={"max_chars": 100})
    replies = await c.say("/long", "u2")
    assert len(replies) >= 5
    assert all(len(r) <= 100 for r in replies)
    assert "\n".join(replies) == "@李四 你要的清单：\n" + "\n".join(LONG_LINES)
    rows = c.sent[-len(replies):]
    assert rows[0]["mentions"] == ["u2"]
    assert all(row["mentions"] == [] for row in rows[1:])


async def test_weekly_post_with_many_newcomers_is_split_mentions_on_the_first(make_chat):
    c = await make_chat(top_pacing={"max_chars": 100})
    newcomers = [f"n{i}" for i in range(8)]
    for user in newcomers:
        await c.join(user, name=f"新人{user}", step=timedelta(minutes=5))
    await c.flush()
    rows = await c.tick(datetime.fromisoformat("2026-11-30T10:01:00+08:00"))
    assert len(rows) >= 2
    assert rows[0]["text"].startswith(t("zh_CN", "newcomers.title", start="11.23", end="11.29", count=8))
    assert rows[0]["mentions"] == newcomers
    assert all(r["mentions"] == [] for r in rows[1:])
    assert all(len(r["text"]) <= 100 for r in rows)
    joined = "\n".join(r["text"] for r in rows)
    assert all(f"@新人{u}" in joined for u in newcomers)


async def test_split_reply_keeps_its_order_when_a_part_is_retried(make_chat):
    """The first part fails once: the member still reads the parts in order."""
    c = await make_chat(routers=(*ROUTERS, longs), top_pacing={"max_chars": 100})
    attempts = fail_first(c, 1, SendError("connection reset"))
    replies = await c.say("/long", "u2")
    assert len(attempts) == len(replies) + 1
    assert "\n".join(replies) == "@李四 你要的清单：\n" + "\n".join(LONG_LINES)


async def test_a_chat_waiting_for_a_retry_does_not_hold_up_others(chat):
    attempts = fail_first(chat, 1, SendError("timeout"))
    t = chat.clock.now() + timedelta(seconds=10)
    await chat.say("/roles", "u1", at=t, drain=False)
    await chat.dm("/roles", "u2", at=t + timedelta(seconds=1))
    assert [(r.get("room") or r.get("user"), at_of(r)) for r in chat.sent] == [
        ("u2", t + timedelta(seconds=1)), ("r1", t + timedelta(seconds=2))]
    assert len(attempts) == 3


async def test_a_reply_is_not_held_behind_a_welcome_scheduled_for_later(chat):
    await chat.join("u9", name="小明")
    await chat.say("/roles", "u1", step=timedelta(seconds=2), drain=False)
    await chat.driver.advance_to(chat.clock.now() + timedelta(seconds=1))
    assert [r["text"][:6] for r in chat.sent] == [ROLES[:6]]          # the welcome waits 5 s for more joins
    await chat.flush()
    assert chat.sent[-1]["text"].startswith("欢迎 @小明")


# ---- pacing ----------------------------------------------------------------------------------------------

async def test_replies_to_one_chat_are_paced_other_chats_are_not(make_chat):
    c = await make_chat(top_pacing={"min_interval_seconds": 5})
    t = c.clock.now() + timedelta(seconds=10)
    await c.say("/roles", "u1", at=t, drain=False)
    await c.say("/roles", "u2", at=t, drain=False)
    await c.dm("/roles", "u3", at=t, drain=False)
    await c.flush()
    in_room = [r for r in c.sent if r.get("room") == "r1"]
    private = [r for r in c.sent if r.get("user") == "u3"]
    assert len(in_room) == 2 and len(private) == 1
    assert all(r["text"].startswith(ROLES) for r in c.sent)
    assert at_of(in_room[0]) == t
    assert at_of(in_room[1]) == t + timedelta(seconds=5)
    assert at_of(private[0]) == t             # another chat does not wait for r1's queue


async def test_pacing_holds_across_commands_spoken_later(make_chat):
    c = await make_chat(top_pacing={"min_interval_seconds": 30})
    await c.say("/roles", "u1")
    first = at_of(c.sent[-1])
    await c.say("/roles", "u2", step=timedelta(seconds=3))
    assert at_of(c.sent[-1]) == first + timedelta(seconds=30)


async def test_per_minute_and_per_hour_caps_hold_per_chat(make_chat):
    """At most 3 in any minute and 5 in any hour to one chat: the 4th waits a minute, the 6th for the hour."""
    c = await make_chat(top_pacing={"min_interval_seconds": 1, "per_minute": 3, "per_hour": 5},
                        top_rate_limit={"commands": 100, "per_seconds": 1})
    t = c.clock.now() + timedelta(seconds=10)
    for i in range(7):
        await c.say("/roles", "u1", at=t + timedelta(seconds=i), drain=False)
    await c.dm("/roles", "u2", at=t + timedelta(seconds=8), drain=False)
    await c.flush()
    room = [at_of(r) - t for r in c.sent if r.get("room") == "r1"]
    assert room == [timedelta(seconds=s) for s in (0, 1, 2, 60, 61, 3600, 3601)]
    assert [at_of(r) - t for r in c.sent if r.get("user") == "u2"] == [timedelta(seconds=8)]   # not held


async def test_the_caps_count_messages_sent_before_a_restart(make_chat):
    c = await make_chat(top_pacing={"min_interval_seconds": 1, "per_minute": 2},
                        top_rate_limit={"commands": 100, "per_seconds": 1})
    t = c.clock.now() + timedelta(seconds=10)
    for i in range(2):
        await c.say("/roles", "u1", at=t + timedelta(seconds=i))
    await c.driver.restart(t + timedelta(seconds=5))
    await c.say("/roles", "u1", at=t + timedelta(seconds=6))
    assert [at_of(r) - t for r in c.sent if r.get("room") == "r1"] == [
        timedelta(seconds=s) for s in (0, 1, 60)]


# ---- failures --------------------------------------------------------------------------------------------

async def test_transient_failure_is_retried_with_backoff_and_sent_once(chat, caplog):
    attempts = fail_first(chat, 2, SendError("timeout"))
    t = chat.clock.now() + timedelta(seconds=10)
    with caplog.at_level(logging.WARNING, logger="qunbot.outbox"):
        replies = await chat.say("/roles", "u1", at=t)
    assert len(replies) == 1 and replies[0].startswith(ROLES)
    # retry_base_seconds 2: tried at t, again 2 s later, then 4 s after that
    assert attempts == [t, t + timedelta(seconds=2), t + timedelta(seconds=6)]
    assert at_of(chat.sent[-1]) == t + timedelta(seconds=6)
    assert any("retry" in r.getMessage() for r in caplog.records)
    assert [r.status for r in await outbox_rows(chat)] == [SENT]


async def test_transient_failures_give_up_after_max_attempts(make_chat, caplog):
    c = await make_chat(top_pacing={"max_attempts": 3})
    attempts = fail_first(c, 1000, SendError("service unavailable"))
    with caplog.at_level(logging.ERROR, logger="qunbot.outbox"):
        assert await c.say("/roles", "u1") == []
    rows = await outbox_rows(c)
    assert [(r.chat_key, r.status, r.attempts) for r in rows] == [
        ("room:r1", FAILED, 3),
        ("user:u_owner", FAILED, 3)]            # the owner was to be told in private (that failed as well)
    assert rows[0].error == "service unavailable"
    assert rows[1].text.startswith("发往「r1」的消息没有发出去（「「增长学习社」的管理角色：」）：service unavailable")
    assert len(attempts) == 6
    assert any("failed for good" in r.getMessage() for r in caplog.records)


def refuse_groups(chat) -> None:
    """The platform refuses every group message for good; private ones go out."""
    real_send = chat.driver.adapter.send

    async def send(out):
        if out.chat.room_id is not None:
            raise SendError("nobody there has written to the bot yet", transient=False)
        await real_send(out)

    chat.driver.adapter.send = send


async def test_a_split_post_that_fails_is_reported_once(make_chat):
    c = await make_chat(routers=(*ROUTERS, longs), top_pacing={"max_chars": 100})
    refuse_groups(c)
    await c.say("/long", "u2")
    told = [r for r in c.sent if r.get("user") == "u_owner"]
    assert len(told) == 1 and "@李四 你要的清单" in told[0]["text"]


async def test_staff_are_told_in_private_when_a_group_post_fails_for_good(make_chat):
    c = await make_chat(top_pacing={"max_attempts": 2}, moderators=["u_mod"])
    refuse_groups(c)
    await c.say("/roles", "u1")
    told = {r["user"]: r["text"] for r in c.sent if "user" in r}
    assert set(told) == {"u_owner", "u_mod"}
    assert told["u_owner"] == "发往「r1」的消息没有发出去（「「增长学习社」的管理角色：」）：nobody there has written to the bot yet"


async def test_an_outage_of_the_platform_connection_does_not_use_up_the_retries(make_chat):
    """While the adapter is reconnecting, a message waits without counting attempts, then goes out once."""
    c = await make_chat(top_pacing={"max_attempts": 2})
    attempts = fail_first(c, 6, NotConnected("reconnecting"))
    replies = await c.say("/roles", "u1")
    assert len(replies) == 1 and replies[0].startswith(ROLES)
    assert len(attempts) == 7
    assert [(r.status, r.attempts) for r in await outbox_rows(c)] == [(SENT, 1)]


async def test_permanent_failure_is_not_retried_and_the_bot_keeps_answering(chat, caplog):
    attempts = fail_first(chat, 1, SendError("not a friend", transient=False))
    with caplog.at_level(logging.ERROR, logger="qunbot.outbox"):
        replies = await chat.say("/roles", "u1")
    assert [r for r in replies if r.startswith(ROLES)] == []        # only the owner's notice went out
    await chat.tick(chat.clock.now() + timedelta(hours=1))
    assert len(attempts) == 2                                        # the group message once, the notice once
    assert caplog.records
    replies = await chat.say("/roles", "u2")
    assert len(replies) == 1 and replies[0].startswith(ROLES)


async def test_adapter_crashing_on_send_is_contained(chat, caplog):
    attempts = fail_first(chat, 1, RuntimeError("puppet exploded"))
    with caplog.at_level(logging.ERROR, logger="qunbot.outbox"):
        replies = await chat.say("/roles", "u1")
    assert replies == ["发往「r1」的消息没有发出去（「「增长学习社」的管理角色：」）：RuntimeError: puppet exploded"]
    assert len(attempts) == 2                               # the group message, then the owner's notice
    assert any("puppet exploded" in (r.exc_text or "") or r.exc_info for r in caplog.records)
    assert len(await chat.say("/roles", "u2")) == 1


# ---- bounded queue ---------------------------------------------------------------------------------------

async def test_full_chat_queue_sheds_and_says_so_in_the_log(make_chat, caplog):
    c = await make_chat(top_pacing={"max_queue": 2, "min_interval_seconds": 60})
    t = c.clock.now() + timedelta(seconds=10)
    with caplog.at_level(logging.WARNING, logger="qunbot.outbox"):
        for user in ("u1", "u2", "u3", "u4", "u_owner"):
            await c.say("/roles", user, at=t, drain=False)
    await c.flush()
    # the first reply went out at once, two waited their turn, the last two were shed
    assert [at_of(r) for r in c.sent] == [t, t + timedelta(seconds=60), t + timedelta(seconds=120)]
    shed = [r for r in caplog.records if "room:r1" in r.getMessage() and "shed" in r.getMessage()]
    assert len(shed) == 2
    # the queue drained: the chat is answered again
    assert len(await c.say("/roles", "u1", step=timedelta(minutes=5))) == 1


async def test_full_queue_of_one_chat_does_not_shed_another(make_chat):
    c = await make_chat(top_pacing={"max_queue": 1, "min_interval_seconds": 60})
    t = c.clock.now() + timedelta(seconds=10)
    for user in ("u1", "u2", "u3"):                     # one sent, one waiting, one shed
        await c.say("/roles", user, at=t, drain=False)
    await c.dm("/roles", "u4", at=t, drain=False)
    await c.flush()
    assert sorted((r.get("room") or r.get("user"), at_of(r)) for r in c.sent) == [
        ("r1", t), ("r1", t + timedelta(seconds=60)), ("u4", t)]


# ---- at most once across a crash -------------------------------------------------------------------------

async def test_message_caught_mid_send_by_a_crash_is_lost_not_doubled(chat, caplog):
    await chat.say("/roles", "u1", drain=False)
    async with chat.app.sessions.begin() as db:   # claimed, handed to the platform, then the process died
        await db.execute(update(OutboxMessage).values(status=SENDING))
    with caplog.at_level(logging.ERROR, logger="qunbot.outbox"):
        await chat.driver.restart(chat.clock.now() + timedelta(minutes=1))
    await chat.flush()
    assert chat.sent == []
    assert [r.status for r in await outbox_rows(chat)] == [LOST]
    assert any("not resending" in r.getMessage() for r in caplog.records)
    replies = await chat.say("/roles", "u2")
    assert len(replies) == 1 and replies[0].startswith(ROLES)


async def test_a_refused_removal_is_handed_to_the_moderators(make_chat):
    """The platform refuses to remove someone (the bot is no admin): owners and moderators are told privately."""
    from bot import outbox as ob
    from bot.adapters.base import ChatRef, SendError

    c = await make_chat(moderators=["u2"])
    record = c.driver.adapter.on_send

    def refuse_removals(out):
        if out.kind == "remove":
            raise SendError("not an admin of this room", transient=False)
        record(out)

    c.driver.adapter.on_send = refuse_removals
    async with c.app.sessions.begin() as db:
        await ob.enqueue(db, c.config.pacing, ChatRef(room_id="r1"), "连续发广告", now=c.clock.now(), kind="remove",
                         target="u3")
    rows = await c.flush()
    told = sorted((r["user"], r["text"]) for r in rows)
    text = "机器人不是「r1」的群主或管理员，没能把 王五 移出群（原因：连续发广告）。请管理员手动处理。"
    assert told == [("u2", text), ("u_owner", text)]
