"""Check-ins: once a day in the community's time zone, streaks across midnight, freezes covering one missed day
each, a minimum of content, the monthly ranking with milestone points, and bare words where the bot hears all."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from models import CheckIn, LedgerEntry
from tests.conftest import sh, to


@pytest.fixture
async def chat(make_chat):
    return await make_chat(checkin={"freezes_per_month": 1, "milestones": {3: 5, 7: 20}})


async def test_once_a_day_and_a_streak_across_midnight(chat):
    """The server's clock runs in UTC; days are Shanghai's: 23:59 and 00:01 are two days, 00:01 and 23:59 one."""
    assert await chat.say("/签到", "u1", at=sh("2026-11-23T23:59:00")) == [to("u1", "✅ 签到成功：连续 1 天，本月第 1 次。")]
    assert await chat.say("/打卡", "u1", at=sh("2026-11-24T00:01:00")) == [to("u1", "✅ 签到成功：连续 2 天，本月第 2 次。")]
    assert await chat.say("/checkin", "u1", at=sh("2026-11-24T23:59:00")) == [
        to("u1", "今天已经签到过了（连续 2 天），明天再来。")]
    async with chat.app.sessions() as db:
        days = [(c.day.isoformat(), c.frozen) for c in await db.scalars(select(CheckIn).order_by(CheckIn.day))]
    assert days == [("2026-11-23", False), ("2026-11-24", False)]


async def test_a_freeze_covers_exactly_one_missed_day_a_month(chat):
    await chat.say("/签到", "u1", at=sh("2026-11-23T08:00:00"))
    await chat.say("/签到", "u1", at=sh("2026-11-24T08:00:00"))
    # 11.25 missed: the month's freeze covers it; the streak goes on to 4 and passes the 3-day milestone.
    assert await chat.say("/签到", "u1", at=sh("2026-11-26T08:00:00")) == [to("u1", "\n".join([
        "✅ 签到成功：连续 4 天，本月第 3 次。",
        "用了补签，补上 11.25，连续天数不断；本月还剩 0 次补签。",
        "🎉 连续 4 天，获得 5 签到分（只计入签到排行，不是现金，也不计入分享排行）。"]))]
    # 11.27 missed too: no freeze left this month, so the streak starts again.
    assert await chat.say("/签到", "u1", at=sh("2026-11-28T08:00:00")) == [to("u1", "\n".join([
        "✅ 签到成功：连续 1 天，本月第 4 次。", "中间断了，连续天数从 1 重新算（之前连续 4 天）。"]))]
    # Two days missed in a new month, with one freeze: not enough, nothing is used.
    await chat.say("/签到", "u1", at=sh("2026-11-30T08:00:00"))
    assert await chat.say("/签到", "u1", at=sh("2026-12-03T08:00:00")) == [to("u1", "\n".join([
        "✅ 签到成功：连续 1 天，本月第 1 次。", "中间断了，连续天数从 1 重新算（之前连续 1 天）。"]))]
    # One missed day in December: December's freeze covers it.
    assert (await chat.say("/签到", "u1", at=sh("2026-12-05T08:00:00")))[0].split("\n")[1] == \
        "用了补签，补上 12.4，连续天数不断；本月还剩 0 次补签。"


async def test_a_minimum_of_content(make_chat):
    chat = await make_chat(checkin={"min_chars": 6})
    assert await chat.say("/打卡", "u1") == [to("u1", "签到要写上今天学了什么，至少 6 个字（现在 0 个）。例如：/打卡 今天学了用户分层")]
    assert await chat.say("/打卡 学了", "u1") == [to("u1", "签到要写上今天学了什么，至少 6 个字（现在 2 个）。例如：/打卡 今天学了用户分层")]
    assert await chat.say("签到", "u1") == [to("u1", "签到要写上今天学了什么，至少 6 个字（现在 0 个）。例如：/打卡 今天学了用户分层")]
    assert await chat.say("/打卡 今天学了用户分层", "u1") == [to("u1", "✅ 签到成功：连续 1 天，本月第 1 次。")]
    async with chat.app.sessions() as db:
        assert [c.text for c in await db.scalars(select(CheckIn))] == ["今天学了用户分层"]


async def test_bare_words_where_the_bot_hears_everything(chat, make_chat):
    assert await chat.say("签到", "u1") == [to("u1", "✅ 签到成功：连续 1 天，本月第 1 次。")]
    assert await chat.say("打卡", "u1") == [to("u1", "今天已经签到过了（连续 1 天），明天再来。")]
    assert await chat.say("今天签到了吗", "u2") == []


async def test_bare_words_are_chat_on_a_mention_only_platform(make_chat):
    chat = await make_chat(capabilities=frozenset(), members=())
    assert await chat.say("签到", "u1") == []
    assert await chat.say("@群助手 /签到", "u1") == [to("u1", "✅ 签到成功：连续 1 天，本月第 1 次。")]
    help_text = (await chat.say("@群助手 /帮助", "u1"))[0]
    assert "直接发「签到」打卡" in help_text


async def test_monthly_ranking_with_points_only_there(chat):
    for day in range(23, 30):
        await chat.say("/签到", "u1", at=sh(f"2026-11-{day}T08:00:00"))
        if day in (24, 25, 26):
            await chat.say("/签到", "u2", at=sh(f"2026-11-{day}T09:00:00"))
    assert await chat.say("/签到 排行", "u3", at=sh("2026-11-29T10:00:00")) == ["\n".join([
        "📅 2026 年 11 月签到排行：",
        "1. 张三 签到 7 天 · 最长连续 7 天 · 签到分 25",
        "2. 李四 签到 3 天 · 最长连续 3 天 · 签到分 5",
        "签到分只用于这个排行，不是现金，也不计入分享排行和奖励。"])]
    # Never in the ledger, so never in the sharing ranking or its rewards.
    async with chat.app.sessions() as db:
        assert not list(await db.scalars(select(LedgerEntry).where(LedgerEntry.kind.not_in(("grant", "expire")))))
    ranking = await chat.say("/排行", "u3")
    assert "张三" not in ranking[0] and "签到" not in ranking[0]
    # A new month starts a new ranking.
    assert await chat.say("/checkin rank", "u3", at=sh("2026-12-01T10:00:00")) == [
        "📅 2026 年 12 月签到排行：\n本月还没有人签到。发送 /签到 开始。\n签到分只用于这个排行，不是现金，也不计入分享排行和奖励。"]


async def test_checking_in_counts_as_activity_in_the_report(make_chat, tmp_path):
    chat = await make_chat(capabilities=frozenset(), members=(), report={"weekly": True, "owners_room": "r_own"},
                           top_charts_dir=str(tmp_path))
    await chat.say("@群助手 /签到", "u1")
    await chat.say("@群助手 /签到", "u2", step=timedelta(hours=1))
    rows = await chat.tick(sh("2026-11-30T09:00:00"))
    report = [r["text"] for r in rows if r.get("room") == "r_own"][0]
    assert "用过机器人命令的 2 人" in report


async def test_english(make_chat):
    chat = await make_chat(locale="en")
    assert await chat.say("/checkin", "u1") == [to("u1", "✅ Checked in: a 1-day streak, your check-in number 1 this month.")]
    assert await chat.say("/checkin", "u1") == [to("u1", "You have checked in today already (a 1-day streak); come back tomorrow.")]
