"""The morning post: the day's topic in turn (or an open question), today's and coming talks, quiet days, once."""
from __future__ import annotations

from tests.conftest import sh


def posts(rows):
    return [r["text"] for r in rows if r.get("room") == "r1"]


async def test_topics_in_turn_with_quiet_days(make_chat):
    chat = await make_chat(morning={"enabled": True, "topics": ["你最近读的一本书", "本周最大的收获"],
                                    "quiet_days": ["sat", "sun"]})
    rows = await chat.tick(sh("2026-11-30T09:00:00"))
    assert posts(rows) == [
        "☀️ 早上好！今天是 11.24（周二）\n💡 今日话题：本周最大的收获\n签到：/签到；提问：/提问",
        "☀️ 早上好！今天是 11.25（周三）\n💡 今日话题：你最近读的一本书\n签到：/签到；提问：/提问",
        "☀️ 早上好！今天是 11.26（周四）\n💡 今日话题：本周最大的收获\n签到：/签到；提问：/提问",
        "☀️ 早上好！今天是 11.27（周五）\n💡 今日话题：你最近读的一本书\n签到：/签到；提问：/提问",
        # Saturday and Sunday are quiet.
        "☀️ 早上好！今天是 11.30（周一）\n💡 今日话题：本周最大的收获\n签到：/签到；提问：/提问",
    ]


async def test_open_questions_and_talks(make_chat):
    chat = await make_chat(moderators=["u3"], morning={"enabled": True})
    await chat.say("/提问 怎么做用户增长", "u1")
    await chat.say("/分享会 私域增长实战 | 周三 20:00 | 李老师", "u3")
    rows = await chat.tick(sh("2026-11-25T09:00:00"))
    assert [t for t in posts(rows) if t.startswith("☀️")] == [
        "☀️ 早上好！今天是 11.24（周二）\n💡 今日话题：Q1「怎么做用户增长」还在等回答，懂的朋友来说说（/问题 Q1）\n"
        "📅 即将举行：11.25（周三）20:00 分享会 #1「私域增长实战」，嘉宾 李老师\n签到：/签到；提问：/提问",
        "☀️ 早上好！今天是 11.25（周三）\n💡 今日话题：Q1「怎么做用户增长」还在等回答，懂的朋友来说说（/问题 Q1）\n"
        "🎤 今天 11.25（周三）20:00 分享会 #1「私域增长实战」，嘉宾 李老师\n签到：/签到；提问：/提问",
    ]


async def test_nothing_to_say_posts_nothing_and_downtime_posts_once(make_chat):
    chat = await make_chat(morning={"enabled": True})
    assert posts(await chat.tick(sh("2026-11-25T09:00:00"))) == []
    await chat.say("/提问 怎么做用户增长", "u1")
    await chat.driver.restart(sh("2026-11-28T10:00:00"))      # down over three mornings
    await chat.tick(sh("2026-11-28T11:00:00"))
    mornings = [t for t in posts(chat.sent) if t.startswith("☀️")]
    assert [t.split("\n")[0] for t in mornings] == ["☀️ 早上好！今天是 11.28（周六）"]


async def test_off_by_default(chat):
    assert not [t for t in posts(await chat.tick(sh("2026-11-26T09:00:00"))) if t.startswith("☀️")]
