"""Guest talks: scheduling with its bad inputs, questions numbered per talk and ordered by votes, and the timeline
(reminders, start, Q&A, the moderator's draft digest) run once each across restarts, skipped when caught up late."""
from __future__ import annotations

import logging

import pytest

from tests.conftest import sh, to

ANNOUNCE = ("📣 分享会 #1「私域增长实战」\n嘉宾：李老师\n时间：11.25（周三）20:00–21:30（90 分钟）\n"
            "现在就可以提问：/分享会 提问 你的问题；给想听的问题投票：/分享会 投票 编号。票数高的先问，最后 20 分钟开放提问。")


@pytest.fixture
async def chat(make_chat):
    """王五 (u3) is a moderator."""
    return await make_chat(moderators=["u3"])


def posts(rows, room="r1"):
    return [r["text"] for r in rows if r.get("room") == room]


async def schedule(chat) -> None:
    assert await chat.say("/分享会 私域增长实战 | 周三 20:00 | 李老师 | 90分钟", "u3") == [ANNOUNCE]


async def test_questions_are_numbered_per_talk_and_ordered_by_votes(chat):
    await schedule(chat)
    assert await chat.say("/分享会 提问 冷启动怎么做", "u1") == [
        to("u1", "已收到，你的问题是分享会 #1「私域增长实战」的第 1 个；大家可以发 /分享会 投票 1 给它投票。")]
    await chat.say("/分享会 提问 怎么做用户分层", "u2")
    await chat.say("/event ask 复购靠什么", "u1")
    assert await chat.say("/分享会 投票 2", "u1") == [to("u1", "已投票，第 2 个问题现在 1 票。")]
    assert await chat.say("/分享会 投票 2", "u3") == [to("u3", "已投票，第 2 个问题现在 2 票。")]
    assert await chat.say("/分享会 投票 3", "u2") == [to("u2", "已投票，第 3 个问题现在 1 票。")]
    assert await chat.say("/分享会 投票 2", "u1") == [to("u1", "你已经给第 2 个问题投过票了。")]
    assert await chat.say("/分享会 投票 1", "u1") == [to("u1", "不能给自己的问题投票。")]
    assert await chat.say("/分享会 投票 9", "u1") == [to("u1", "分享会 #1 没有第 9 个问题。发送 /分享会 列表 查看。")]
    assert await chat.say("/分享会 投票 Q2", "u1") == [to("u1", "用法：/分享会 投票 问题编号，例如 /分享会 投票 3")]
    assert await chat.say("/分享会 列表", "u2") == ["\n".join([
        "🎤 即将举行的分享会：", "#1「私域增长实战」嘉宾 李老师 · 11.25（周三）20:00–21:30（90 分钟）",
        "分享会 #1 已收集的问题（按票数）：",
        "2. 怎么做用户分层（2 票，李四）", "3. 复购靠什么（1 票，张三）", "1. 冷启动怎么做（0 票，张三）",
        "提问：/分享会 提问 你的问题；投票：/分享会 投票 编号"])]


async def test_bad_talks_change_nothing(chat):
    forbidden = to("u1", "这个命令需要「版主」权限。")
    assert await chat.say("/分享会 私域 | 周三 20:00 | 李老师", "u1") == [forbidden]
    assert await chat.say("/分享会 私域", "u3") == [to("u3", "用法：/分享会 标题 | 时间 | 嘉宾 [| 时长]，例如 /分享会 私域增长实战 | 12.10 20:00 | 李老师 | 90分钟")]
    assert await chat.say("/分享会 私域 | 下周 20:00 | 李老师", "u3") == [
        to("u3", "看不懂时间「下周 20:00」：请写成 12.10 20:00、周三 20:00 或 明天 20:00。")]
    assert await chat.say("/分享会 私域 | 11.22 20:00 | 李老师", "u3") == [
        to("u3", "11.22（周日）20:00 已经过去了，分享会要安排在以后的时间。")]
    assert await chat.say("/分享会 私域 | 周三 20:00 | 李老师 | 很久", "u3") == [
        to("u3", "看不懂时长「很久」：请写 10 到 600 分钟，例如 90分钟 或 1.5小时。")]
    await schedule(chat)
    assert await chat.say("/分享会 另一场 | 11.25 21:00 | 王老师", "u3") == [
        to("u3", "和分享会 #1「私域增长实战」（11.25（周三）20:00–21:30（90 分钟））时间重叠，请换个时间。")]
    # Back to back is fine.
    assert (await chat.say("/分享会 另一场 | 11.25 21:30 | 王老师 | 1小时", "u3"))[0].startswith("📣 分享会 #2「另一场」")
    assert await chat.say("/分享会 提问", "u1") == [to("u1", "用法：/分享会 提问 你的问题")]
    assert await chat.say("/分享会 新建", "u3") == [to("u3", "用法：/分享会 标题 | 时间 | 嘉宾 [| 时长]，例如 /分享会 私域增长实战 | 12.10 20:00 | 李老师 | 90分钟")]


async def test_the_timeline_runs_once_across_restarts(chat, caplog):
    caplog.set_level(logging.WARNING, logger="qunbot.scheduler")
    await schedule(chat)
    await chat.say("/分享会 提问 冷启动怎么做", "u1")
    await chat.say("/分享会 投票 1", "u2")
    rows = await chat.tick(sh("2026-11-24T20:00:00"))
    assert posts(rows) == ["⏰ 明天的分享会 #1「私域增长实战」\n嘉宾：李老师 · 11.25（周三）20:00–21:30（90 分钟）\n"
                           "还可以提问（/分享会 提问 …）和投票（/分享会 投票 编号），目前票数最高的问题：\n"
                           "1. 冷启动怎么做（1 票，张三）"]
    # Down between the reminders: the 1-hour one still goes out, once.
    await chat.driver.restart(sh("2026-11-25T18:00:00"))
    rows = await chat.tick(sh("2026-11-25T19:30:00"))
    assert posts(rows) == ["⏰ 1 小时后开始：分享会 #1「私域增长实战」\n嘉宾：李老师 · 11.25（周三）20:00–21:30（90 分钟）\n"
                           "目前票数最高的问题：\n1. 冷启动怎么做（1 票，张三）"]
    await chat.driver.restart(sh("2026-11-25T19:40:00"))
    rows = await chat.tick(sh("2026-11-25T20:05:00"))
    assert posts(rows) == ["🎤 分享会 #1「私域增长实战」现在开始，嘉宾 李老师。请大家保持安静，问题留到最后 20 分钟。大家最想问的：\n"
                           "1. 冷启动怎么做（1 票，张三）"]
    await chat.say("冷启动先找种子用户", "u2", at=sh("2026-11-25T20:30:00"))
    await chat.say("种子用户从哪里来", "u1")
    await chat.say("从老客户和社群里来", "u2")
    # Down over the Q&A's opening (21:10) until after the talk ended (21:30): that post is skipped, logged.
    await chat.tick(sh("2026-11-25T21:00:00"))
    await chat.driver.restart(sh("2026-11-25T21:40:00"))
    rows = [r for r in chat.sent if r["at"] >= "2026-11-25T21:00"]
    assert posts(rows) == ["🙏 分享会 #1「私域增长实战」结束了，谢谢嘉宾 李老师 和大家！整理好的内容会发在周报里。"]
    assert "talk_qa" in caplog.text and "skipped" in caplog.text
    draft = [r["text"] for r in rows if r.get("user") == "u3"]
    assert len(draft) == 1 and draft[0].startswith("分享会 #1「私域增长实战」结束了，这是这段时间的周报草稿")
    assert "11.25（周三）20:00" in draft[0] and "种子用户" in draft[0]
    await chat.tick(sh("2026-11-27T09:00:00"))
    everything = [t for t in posts(chat.sent) if "分享会 #1" in t and not t.startswith("@")]
    assert len(everything) == 5, [t.split("\n")[0] for t in everything]     # announced, two reminders, the start, the end


async def test_a_cancelled_talk_sends_nothing_more(chat):
    await schedule(chat)
    assert await chat.say("/分享会 取消 #1", "u3") == ["📣 分享会 #1「私域增长实战」（11.25（周三）20:00–21:30（90 分钟））取消了，提醒不再发出。"]
    rows = await chat.tick(sh("2026-11-26T09:00:00"))
    assert not [r for r in rows if "分享会" in r.get("text", "")]
    assert await chat.say("/分享会", "u1") == [to("u1", "现在没有安排中的分享会。")]


async def test_scheduled_in_private_goes_to_the_moderators_group(chat):
    await chat.dm("/分享会 私域增长实战 | 周三 20:00 | 李老师 | 90分钟", "u3")
    assert [r["text"] for r in chat.sent if r.get("user") == "u3"] == ["分享会 #1「私域增长实战」已安排，群里已经公告。"]
    assert posts(chat.sent) == [ANNOUNCE]


async def test_on_a_mention_only_platform_the_moderator_is_asked_to_draft_privately(make_chat):
    chat = await make_chat(capabilities=frozenset(), members=(), moderators=["u3"])
    assert await chat.say("@群助手 /分享会 私域增长实战 | 周三 20:00 | 李老师 | 90分钟", "u3") == [ANNOUNCE]
    rows = await chat.tick(sh("2026-11-25T21:31:00"))
    assert posts(rows)[-1] == "@王五 分享会 #1 结束了。这个平台上我不能主动私聊你：请尽快私聊我发送 /周报 3小时，把这场分享整理成周报草稿。"


async def test_english(make_chat):
    chat = await make_chat(moderators=["u3"], locale="en")
    replies = await chat.say("/event Growth | wed 20:00 | Ms Li", "u3")
    assert replies[0].startswith("📣 Guest talk #1 \"Growth\"\nGuest: Ms Li\nTime: Wed 11/25 20:00–21:00 (60 minutes)")
