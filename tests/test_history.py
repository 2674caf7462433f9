"""The groups' ordinary chat is kept behind the commands: written in batches, deduplicated, cut into words once,
with each member's activity; an owner's switch per group, retention, and a member's deleted data taking their
chat with it."""
import asyncio
import json
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot import history as history_module
from bot.activity import active_members
from bot.adapters.base import Capability, IncomingMessage, MessageKind
from bot.adapters.recording import ALL_CAPABILITIES
from bot.simulate import ScriptError, parse_script, to_incoming
from models import ActivityDay, ChatMessage, Member
from models.history import TEXT_LIMIT
from scheduler.retention import prune
from tests.conftest import to

KEPT_NOTE = "本群的聊天记录会保存 180 天，用于周报摘要；发送 /资料 删除 可删除你的全部个人数据，聊天记录也一起删除。"


async def kept(chat) -> list[ChatMessage]:
    async with chat.app.sessions() as db:
        return list(await db.scalars(select(ChatMessage).order_by(ChatMessage.sent_at, ChatMessage.id)))


async def activity(chat, user_id: str) -> list[tuple]:
    async with chat.app.sessions() as db:
        return [(a.day.isoformat(), a.messages, a.commands) for a in await db.scalars(
            select(ActivityDay).where(ActivityDay.user_id == user_id).order_by(ActivityDay.day))]


async def member(chat, user_id: str) -> Member:
    async with chat.app.sessions() as db:
        return (await db.scalars(select(Member).where(Member.user_id == user_id))).one()


async def test_ordinary_chat_is_kept_with_its_words_and_commands_are_not(chat):
    await chat.say("大家好，我在做用户增长", "u1", id="m1")
    await chat.say("/积分", "u1")
    await chat.dm("私聊的话不算群聊", "u1")
    [row] = await kept(chat)
    assert (row.room_id, row.platform_id, row.sender_id, row.kind, row.text) == (
        "r1", "m1", "u1", "text", "大家好，我在做用户增长")
    assert {"用户", "增长"} <= set(row.terms.split()) and "，" not in row.terms


async def test_links_images_files_and_replies_are_kept_as_metadata(chat):
    await chat.driver.handle(IncomingMessage("m1", "r1", "u2", "李四", "增长黑客实战", chat.clock.now(),
                                             kind=MessageKind.LINK, url="https://example.org/a"))
    await chat.driver.handle(IncomingMessage("m2", "r1", "u2", "李四", "", chat.clock.now(), kind=MessageKind.IMAGE,
                                             path="img/whiteboard.jpg"))
    await chat.driver.handle(IncomingMessage("m3", "r1", "u3", "王五", "周报模板.xlsx", chat.clock.now(),
                                             kind=MessageKind.FILE))
    await chat.driver.handle(IncomingMessage("m4", "r1", "u1", "张三", "同意楼上", chat.clock.now(), quoted_id="m1"))
    await chat.flush()
    rows = {r.platform_id: r for r in await kept(chat)}
    assert (rows["m1"].kind, rows["m1"].text, rows["m1"].url) == ("link", "增长黑客实战", "https://example.org/a")
    assert (rows["m2"].kind, rows["m2"].path) == ("image", "img/whiteboard.jpg")
    assert (rows["m3"].kind, rows["m3"].text) == ("file", "周报模板.xlsx")
    assert rows["m4"].quoted_id == "m1"


async def test_a_redelivered_message_is_kept_and_counted_once(chat):
    await chat.say("早上好", "u1", id="same")
    await chat.say("早上好", "u1", id="same")
    assert [r.platform_id for r in await kept(chat)] == ["same"]
    assert await activity(chat, "u1") == [("2026-11-23", 1, 0)]


async def test_activity_counts_messages_and_commands_per_day_and_the_last_of_each(chat):
    await chat.say("第一条", "u2")
    await chat.say("/积分", "u2")
    last_message = chat.clock.now()
    await chat.say("/积分", "u2", step=timedelta(hours=16))       # 09:00 + 16 h: the next day in Shanghai
    await chat.flush()
    assert await activity(chat, "u2") == [("2026-11-23", 1, 1), ("2026-11-24", 0, 1)]
    row = await member(chat, "u2")
    assert row.last_message_at == last_message - timedelta(seconds=10)
    assert row.last_command_at == chat.clock.now()


async def test_a_very_long_message_is_kept_cut_at_the_limit(chat):
    await chat.say("长" * 1_000_000, "u1")
    [row] = await kept(chat)
    assert len(row.text) == TEXT_LIMIT == 4000


async def test_an_owner_turns_keeping_off_and_it_stops_at_once(chat):
    await chat.say("留下来", "u1", id="before")
    await chat.say("还没写进去", "u1", id="waiting", drain=False)     # still in the batch when it is turned off
    assert await chat.say("/记录 关", "u_owner") == [
        "好的，本群从现在起不再保存聊天记录；已保存的保留到期满，/记录 清除 可以马上删除。"]
    await chat.say("之后的话", "u1", id="after")
    assert [r.platform_id for r in await kept(chat)] == ["before"]
    assert await chat.say("/记录", "u_owner") == ["本群现在不保存聊天记录。/记录 开 恢复保存。"]
    assert KEPT_NOTE not in (await chat.say("/帮助", "u1"))[0]
    assert await chat.say("/记录 开", "u_owner") == ["好的，本群的聊天记录会保存 180 天，用于周报摘要和活跃统计。"]
    await chat.say("又开了", "u1", id="again")
    assert [r.platform_id for r in await kept(chat)] == ["before", "again"]


async def test_an_owner_purges_the_group_s_chat_after_confirming(chat):
    await chat.say("一", "u1")
    await chat.say("二", "u2")
    assert await chat.say("/记录 清除", "u_owner") == [
        "这会删除本群已保存的全部聊天记录，无法恢复。确定的话请发送：/记录 清除 确认"]
    assert len(await kept(chat)) == 2
    assert await chat.say("/history purge confirm", "u_owner") == ["已删除本群保存的 2 条聊天记录。"]
    assert await kept(chat) == []


@pytest.mark.parametrize("text", ["/记录 关", "/记录 清除 确认"])
async def test_members_cannot_switch_or_purge(chat, text):
    await chat.say("一", "u2")
    assert await chat.say(text, "u1") == [to("u1", "这个命令需要「群主」权限。")]
    assert len(await kept(chat)) == 1
    assert await chat.say("/记录 随便", "u_owner") == [to("u_owner", "用法：/记录 查看；/记录 开；/记录 关；/记录 清除（群主可用）")]


async def test_deleting_one_s_data_deletes_one_s_chat_signed_up_or_not(chat):
    await chat.say("我是张三", "u1")
    await chat.say("我是李四", "u2")
    await chat.say("还在批里", "u1", drain=False)
    await chat.say("/资料 删除 确认", "u1")
    assert [r.sender_id for r in await kept(chat)] == ["u2"]
    assert await activity(chat, "u1") == []


async def test_old_chat_goes_with_retention(chat):
    await chat.say("半年前的话", "u1", id="old")
    await chat.say("最近的话", "u1", id="new", step=timedelta(days=100))
    pruned = await prune(chat.app.sessions, chat.config.retention, chat.clock.now() + timedelta(days=90))
    assert pruned.chat == 1
    assert [r.platform_id for r in await kept(chat)] == ["new"]


def fail_the_first_write(recorder, monkeypatch) -> None:
    """The recorder's next write meets a locked database; the writes after it go through."""
    real_write, failures = recorder._write, []

    async def locked(*args):
        if not failures:
            failures.append(1)
            raise OperationalError("INSERT INTO chat_messages", {}, Exception("database is locked"))
        return await real_write(*args)

    monkeypatch.setattr(recorder, "_write", locked)


async def test_a_failed_write_keeps_the_batch_and_commands_go_on(chat, monkeypatch):
    recorder = chat.app.history
    fail_the_first_write(recorder, monkeypatch)
    await chat.say("第一次没写进去", "u1", drain=False)
    with pytest.raises(OperationalError):
        await recorder.flush()
    assert recorder.waiting == 1
    assert (await chat.say("/积分", "u2"))[0].startswith("@李四 本周还能打赏")      # the command is answered
    assert [r.text for r in await kept(chat)] == ["第一次没写进去"]


async def test_while_one_batch_is_written_the_next_is_cut_and_a_deletion_meanwhile_reaches_it(chat, monkeypatch):
    """Batch 1 is written while batch 2 is cut; 张三 deletes their data during that write: neither batch keeps
    their messages (batch 1's are deleted after its write, batch 2's are never written)."""
    monkeypatch.setattr(history_module, "BATCH", 2)
    recorder = chat.app.history
    real_write, writes = recorder._write, []

    async def write_and_meanwhile_delete(batch, *rest):
        writes.append([s.text for s in batch])
        if len(writes) == 1:
            recorder.forget("growth", at=chat.clock.now(), user_id="u1")
        return await real_write(batch, *rest)

    monkeypatch.setattr(recorder, "_write", write_and_meanwhile_delete)
    for n, user in enumerate(["u1", "u2", "u1", "u2"]):
        await chat.say(f"第{n}条", user, drain=False)
    await recorder.flush()
    assert writes == [["第0条", "第1条"], ["第3条"]]
    assert [r.text for r in await kept(chat)] == ["第1条", "第3条"]


async def test_a_failed_write_keeps_both_the_batch_and_the_one_cut_ahead_in_order(chat, monkeypatch):
    monkeypatch.setattr(history_module, "BATCH", 2)
    recorder = chat.app.history
    fail_the_first_write(recorder, monkeypatch)
    for n in range(4):
        await chat.say(f"第{n}条", "u2", drain=False)
    with pytest.raises(OperationalError):
        await recorder.flush()
    assert recorder.waiting == 4
    await recorder.flush()
    assert [r.text for r in await kept(chat)] == ["第0条", "第1条", "第2条", "第3条"]


async def test_when_too_much_waits_the_newest_chat_is_shed(chat, monkeypatch, caplog):
    monkeypatch.setattr(history_module, "MAX_WAITING", 3)
    monkeypatch.setattr(history_module, "BATCH", 100)
    for n in range(5):
        await chat.say(f"消息{n}", "u1", drain=False)
    assert chat.app.history.shed == 2
    assert any("newest are not kept" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    await chat.flush()
    assert [r.text for r in await kept(chat)] == ["消息0", "消息1", "消息2"]


async def test_a_full_batch_wakes_the_writer(chat, monkeypatch):
    monkeypatch.setattr(history_module, "BATCH", 2)
    woken = []
    monkeypatch.setattr(chat.app.history, "wake", lambda: woken.append(1))
    await chat.say("一", "u1", drain=False)
    assert woken == [] and 0 < chat.app.history.seconds_to_flush() <= history_module.FLUSH_SECONDS
    await chat.say("二", "u1", drain=False)
    assert woken == [1] and chat.app.history.seconds_to_flush() == 0


async def test_help_and_the_welcome_say_the_chat_is_kept(chat):
    assert (await chat.say("/帮助", "u1"))[0].endswith(KEPT_NOTE)
    await chat.join("u9", name="小明")
    rows = await chat.tick(chat.clock.now() + timedelta(minutes=2))
    assert rows[-1]["text"].endswith(KEPT_NOTE)


async def test_where_the_bot_sees_only_mentions_it_says_so(make_chat):
    c = await make_chat(capabilities=ALL_CAPABILITIES - {Capability.SEES_ALL_MESSAGES})
    assert "在这里机器人只保存 @ 它的消息（180 天）" in (await c.say("/帮助", "u1"))[0]


async def test_who_counts_as_active(chat):
    start = chat.clock.now()
    await chat.say("聊天", "u1")
    await chat.say("/积分", "u2")
    await chat.say("/提问 怎么做增长", "u3")
    await chat.say("/打赏 @张三 5", "u_owner", mentions=["u1"])
    await chat.say("/回答 Q1 先找种子用户", "u_owner", step=timedelta(days=2))
    tz = chat.app.runtime.config.community_tz(chat.app.community_config("growth"))
    async with chat.app.sessions() as db:
        first_day = await active_members(db, "growth", start, start + timedelta(hours=1), tz)
        later = await active_members(db, "growth", start + timedelta(days=1), start + timedelta(days=3), tz)
    assert first_day == {"u1", "u2", "u3", "u_owner"}
    assert later == {"u_owner"}


def test_simulate_scripts_carry_replies_files_and_images():
    lines = [
        {"type": "message", "at": "2026-11-23T09:00:00+08:00", "room": "r1", "user": "u1", "text": "同意",
         "quote": "m0"},
        {"type": "message", "at": "2026-11-23T09:01:00+08:00", "room": "r1", "user": "u1", "file": "周报.pdf"},
        {"type": "message", "at": "2026-11-23T09:02:00+08:00", "room": "r1", "user": "u1", "image": "a.jpg"},
    ]
    quote, file, image = (to_incoming(e) for e in parse_script("\n".join(json.dumps(x) for x in lines)))
    assert quote.quoted_id == "m0" and quote.kind == MessageKind.TEXT
    assert (file.kind, file.text) == (MessageKind.FILE, "周报.pdf")
    assert (image.kind, image.path) == (MessageKind.IMAGE, "a.jpg")
    with pytest.raises(ScriptError, match="'image' goes with kind 'image'"):
        parse_script(json.dumps({"type": "message", "at": "2026-11-23T09:00:00+08:00", "room": "r1", "user": "u1",
                                 "kind": "file", "image": "a.jpg"}))


async def test_a_running_bot_writes_chat_within_half_a_second(chat):
    serving = asyncio.create_task(chat.app.serve())
    try:
        for n, text in enumerate(["在线的消息", "又一条"], 1):
            await asyncio.sleep(0.2)                 # the loop is asleep, with nothing due for a long while
            await chat.app.handle(IncomingMessage(f"live{n}", "r1", "u1", "张三", text, chat.clock.now()))
            for _ in range(40):
                if len(await kept(chat)) == n:
                    break
                await asyncio.sleep(0.05)
        assert [r.text for r in await kept(chat)] == ["在线的消息", "又一条"]
    finally:
        chat.app.stop()
        await asyncio.wait_for(serving, 10)


async def test_on_stopping_the_waiting_chat_is_written(chat):
    await chat.say("最后一句", "u1", drain=False)
    chat.app.stop()
    await asyncio.wait_for(chat.app.serve(), 10)
    assert [r.text for r in await kept(chat)] == ["最后一句"]
