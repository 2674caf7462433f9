"""Duty moderators: the rotation queue and its verbs, handovers at each term's start, KPIs per shift, stipends from
the ops account by KPI tier, and the faults (leaving on duty, empty queue, unconfirmed swaps, restarts, downtime,
an empty ops account). Terms are weekly from Monday 00:00; the community starts Monday 2026-11-23 09:00."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.events import Capability
from models import LedgerAccount, LedgerEntry, Member, RoleGrant
from models.duty import DutyShift
from tests.conftest import sh, to
from tests.test_scheduler import restart

# Half a stipend for one distinct answerer, all of it for two (and every question answered).
TIERS = [{"share": 100, "answerers": 2, "answered_percent": 100}, {"share": 50, "answerers": 1}]
TERM2 = sh("2026-11-30T00:00:00")
TERM3 = sh("2026-12-07T00:00:00")
TERM4 = sh("2026-12-14T00:00:00")
TERM5 = sh("2026-12-21T00:00:00")
JOINED_ON_DUTY = "已报名值班。现在没有人值班，从现在起由你值班，到 11.30（周一）00:00；值班须知已发给你。"


async def duty_chat(make_chat, *, stipend="100", **overrides):
    duty = {"stipend": stipend, "tiers": TIERS, **overrides.pop("duty", {})}
    return await make_chat(treasurers=["u_owner"], duty=duty, **overrides)


async def queue_up(chat, *users: str) -> None:
    for user in users:
        await chat.say("/值班 报名", user)


def private(rows, user: str) -> list[str]:
    return [r["text"] for r in rows if r.get("user") == user]


def posted(rows, room: str = "r1") -> list[str]:
    return [r["text"] for r in rows if r.get("room") == room]


def handovers(rows) -> list[str]:
    return [t for t in posted(rows) if t.startswith("📋")]


async def shifts(chat) -> list[tuple[str, str, str | None, int | None, int | None]]:
    """(member, started, end reason, share, fen) per shift, in order."""
    async with chat.app.sessions() as db:
        rows = await db.execute(select(DutyShift, Member.display_name).join(Member, Member.id == DutyShift.member_id)
                                .order_by(DutyShift.started_at, DutyShift.id))
        return [(name, s.started_at.astimezone(sh("2026-11-23T00:00:00").tzinfo).strftime("%m-%d %H:%M"),
                 s.end_reason, s.share, s.amount) for s, name in rows]


async def stipend_entries(chat) -> list[tuple[int, str, int, str, str | None]]:
    """(number, kind, fen, member, reason) of every stipend entry."""
    async with chat.app.sessions() as db:
        rows = await db.execute(select(LedgerEntry, Member.display_name).join(Member, Member.id == LedgerEntry.member_id)
                                .where(LedgerEntry.kind.in_(["stipend", "stipend_unfunded"]))
                                .order_by(LedgerEntry.number))
        return [(e.number, e.kind, e.amount, name, e.reason) for e, name in rows]


async def balances(chat) -> dict[str, int]:
    async with chat.app.sessions() as db:
        return {a.key: a.balance for a in await db.scalars(select(LedgerAccount).where(LedgerAccount.unit == "fen"))}


async def member_id(chat, user: str) -> int:
    async with chat.app.sessions() as db:
        return (await db.scalars(select(Member.id).where(Member.user_id == user))).one()


# ---- the queue ---------------------------------------------------------------------------------------------------

async def test_the_first_to_join_takes_the_duty_at_once_and_the_queue_lists_in_signup_order(make_chat):
    c = await duty_chat(make_chat)
    assert await c.say("/值班", "u3") == [
        "值班轮换（每期 1 周，按报名顺序轮流）：\n现在没有人值班，由群主负责。\n还没有人报名值班。\n"
        "报名：/值班 报名；换班：/值班 换班 @成员；考核：/值班 KPI"]
    replies = await c.say("/值班 报名", "u1")
    assert replies[0] == to("u1", JOINED_ON_DUTY)
    assert replies[1].startswith("你从 11.23（周一）09:00 起值班，到 11.30（周一）00:00。值班要做的事：")
    assert await c.say("/mod join", "u2") == [to("u2", "已报名值班，排第 2 位，轮到你时我会通知你。")]
    await c.say("/值班 报名", "u3")
    assert await c.say("/mod list", "u_owner") == [
        "值班轮换（每期 1 周，按报名顺序轮流）：\n现在值班：张三，到 11.30（周一）00:00\n"
        "1. 张三 ← 值班中\n2. 李四 ← 下一位\n3. 王五\n报名：/值班 报名；换班：/值班 换班 @成员；考核：/值班 KPI"]


async def test_joining_twice_changes_nothing(make_chat):
    c = await duty_chat(make_chat)
    await queue_up(c, "u1", "u2")
    assert await c.say("/值班 报名", "u2") == [to("u2", "你已经在值班名单里了，排第 2 位。")]
    assert await c.say("/值班 报名 明天", "u3") == [to("u3", "用法：/值班 报名（不用加别的内容）")]
    assert [s[0] for s in await shifts(c)] == ["张三"]
    assert "3. " not in (await c.say("/值班", "u1"))[0]


async def test_the_rotation_is_cyclic_across_terms_and_each_term_is_announced_once(make_chat):
    c = await duty_chat(make_chat)
    await queue_up(c, "u1", "u2", "u3")
    rows = await c.tick(TERM5 + timedelta(hours=1))
    assert handovers(rows) == [
        "📋 值班交接：从现在起到 12.7（周一）00:00 由 @李四 值班。感谢 张三 上一期的值班！下一位：王五。有问题找值班版主；/值班 查看名单。",
        "📋 值班交接：从现在起到 12.14（周一）00:00 由 @王五 值班。感谢 李四 上一期的值班！下一位：张三。有问题找值班版主；/值班 查看名单。",
        "📋 值班交接：从现在起到 12.21（周一）00:00 由 @张三 值班。感谢 王五 上一期的值班！下一位：李四。有问题找值班版主；/值班 查看名单。",
        "📋 值班交接：从现在起到 12.28（周一）00:00 由 @李四 值班。感谢 张三 上一期的值班！下一位：王五。有问题找值班版主；/值班 查看名单。"]
    assert [r["mentions"] for r in rows if r.get("room") and r["text"].startswith("📋")] == [["u2"], ["u3"], ["u1"], ["u2"]]
    assert [(s[0], s[1], s[2]) for s in await shifts(c)] == [
        ("张三", "11-23 09:00", "term"), ("李四", "11-30 00:00", "term"), ("王五", "12-07 00:00", "term"),
        ("张三", "12-14 00:00", "term"), ("李四", "12-21 00:00", None)]


async def test_a_term_of_two_weeks_hands_over_every_other_monday(make_chat):
    c = await duty_chat(make_chat, duty={"term": "2w"})
    await queue_up(c, "u1", "u2")
    rows = await c.tick(TERM4 + timedelta(hours=1))
    assert [t.split("由 ")[1][:3] for t in handovers(rows)] == ["@李四"]     # 12.7 only (11.23 + 2 weeks)
    assert "到 12.21（周一）00:00" in handovers(rows)[0]


async def test_a_monthly_term_starts_on_the_first(make_chat):
    c = await duty_chat(make_chat, duty={"term": "1m"})
    await queue_up(c, "u1", "u2")
    assert "到 12.1（周二）00:00" in (await c.say("/值班", "u1"))[0]
    rows = await c.tick(sh("2026-12-01T01:00:00"))
    assert handovers(rows) == [
        "📋 值班交接：从现在起到 1.1（周五）00:00 由 @李四 值班。感谢 张三 上一期的值班！下一位：张三。有问题找值班版主；/值班 查看名单。"]


async def test_owners_move_someone_and_skip_a_turn(make_chat):
    c = await duty_chat(make_chat)
    await queue_up(c, "u1", "u2", "u3")
    assert await c.say("/值班 调整 @王五 2", "u_owner", mentions=["u3"]) == ["已把 王五 调到值班名单第 2 位。"]
    assert await c.say("/值班 调整 @王五 5", "u_owner", mentions=["u3"]) == [to("u_owner", "名次要在 1 到 3 之间。")]
    assert await c.say("/值班 调整 @王五", "u_owner", mentions=["u3"]) == [
        to("u_owner", "用法：/值班 调整 @成员 名次，例如 /值班 调整 @张三 3")]
    assert await c.say("/值班 跳过", "u2") == [to("u2", "这个命令需要「群主」权限。")]
    replies = await c.say("/值班 跳过", "u_owner")
    assert replies[-1] == "已跳过 张三 这一班，由 @王五 接着值班，到 11.30（周一）00:00。"
    rows = await c.tick(TERM2 + timedelta(minutes=1))
    assert "由 @李四 值班" in handovers(rows)[0]
    assert [(s[0], s[2]) for s in await shifts(c)] == [("张三", "skipped"), ("王五", "term"), ("李四", None)]


async def test_moderator_role_is_held_for_the_shift_only(make_chat):
    c = await duty_chat(make_chat)
    assert (await c.say("/周报", "u1"))[0] == to("u1", "这个命令需要「版主」权限。")
    await queue_up(c, "u1", "u2")
    await c.say("今天聊聊增长", "u3")
    assert (await c.say("/周报", "u1"))[-1] == to("u1", "周报草稿已私聊发给你。")
    await c.tick(TERM2 + timedelta(minutes=1))
    assert (await c.say("/周报", "u1"))[0] == to("u1", "这个命令需要「版主」权限。")
    async with c.app.sessions() as db:
        assert [(g.user_id, g.source) for g in await db.scalars(select(RoleGrant))] == [("u2", "duty")]


async def test_an_appointed_moderator_keeps_the_role_after_their_shift(make_chat):
    c = await duty_chat(make_chat, moderators=["u1"])
    await queue_up(c, "u1", "u2")
    await c.tick(TERM2 + timedelta(minutes=1))
    await c.say("今天聊聊增长", "u3")
    assert (await c.say("/周报", "u1"))[-1] == to("u1", "周报草稿已私聊发给你。")


async def test_a_draft_goes_to_the_moderator_on_duty_too(make_chat):
    c = await duty_chat(make_chat, moderators=["u_mod"], members=("u_owner", "u1", "u2", "u3", "u_mod"))
    await queue_up(c, "u1")
    await c.say("今天聊聊增长", "u3")
    await c.say("/周报", "u_mod")
    drafts = private(c.sent, "u1")
    assert drafts[-1].startswith("小版 起草了本周周报，你是值班版主，草稿也发给你一份：\n")
    assert private(c.sent, "u_mod")[-1].split("\n")[0] == drafts[-1].split("\n")[1]


# ---- swaps -------------------------------------------------------------------------------------------------------

async def test_a_confirmed_swap_exchanges_turns(make_chat):
    c = await duty_chat(make_chat)
    await queue_up(c, "u1", "u2", "u3")
    assert await c.say("/值班 换班 @王五", "u2", mentions=["u3"]) == [
        "@王五 李四 想和你换班（TA 排第 2 位，你排第 3 位）。同意的话请在 48 小时内发送 /值班 确认。"]
    assert await c.say("/值班 确认", "u3") == ["换班完成：@李四 和 王五 交换了值班顺序。"]
    assert await c.say("/值班 确认", "u3") == [to("u3", "没有等你确认的换班请求。")]
    rows = await c.tick(TERM3 + timedelta(minutes=1))
    assert [t.split("由 ")[1][:3] for t in handovers(rows)] == ["@王五", "@李四"]


async def test_a_swap_with_the_one_on_duty_hands_over_now(make_chat):
    c = await duty_chat(make_chat)
    await queue_up(c, "u1", "u2")
    await c.say("/值班 换班 @李四", "u1", mentions=["u2"])
    replies = await c.say("/值班 确认", "u2")
    assert replies[-1] == "换班完成：@张三 和 李四 交换了值班顺序，现在由 李四 值班，到 11.30（周一）00:00。"
    rows = await c.tick(TERM2 + timedelta(minutes=1))
    assert "由 @张三 值班" in handovers(rows)[0]
    assert [(s[0], s[2]) for s in await shifts(c)] == [("张三", "swapped"), ("李四", "term"), ("张三", None)]


async def test_a_swap_never_confirmed_expires(make_chat):
    c = await duty_chat(make_chat, duty={"swap_hours": 24})
    await queue_up(c, "u1", "u2", "u3")
    await c.say("/值班 换班 @王五", "u2", mentions=["u3"])
    assert await c.say("/值班 确认", "u3", step=timedelta(hours=25)) == [
        to("u3", "换班请求已经过期了（24 小时内没有确认），请对方重新发起。")]
    assert "2. 李四 ← 下一位\n3. 王五" in (await c.say("/值班", "u3"))[0]


@pytest.mark.parametrize("text, mentions, reply", [
    ("/值班 换班", [], "用法：/值班 换班 @成员（对方发送 /值班 确认 后生效）"),
    ("/值班 换班 @李四", ["u2"], "不能和自己换班。"),
    ("/值班 换班 @赵六", ["u4"], "赵六 不在值班名单里。"),
])
async def test_bad_swaps_change_nothing(make_chat, text, mentions, reply):
    c = await duty_chat(make_chat, members=("u_owner", "u1", "u2", "u3", "u4"))
    await queue_up(c, "u1", "u2")
    assert await c.say(text, "u2", mentions=mentions) == [to("u2", reply)]
    assert await c.say("/值班 确认", "u4") == [to("u4", "没有等你确认的换班请求。")]


# ---- leaving -----------------------------------------------------------------------------------------------------

async def test_leaving_while_on_duty_hands_over_at_once_tells_the_owner_and_prorates(make_chat):
    c = await duty_chat(make_chat)
    await queue_up(c, "u1", "u2", "u3")
    await c.say("/基金 入账 1000 运营费", "u_owner")
    replies = await c.say("/值班 退出", "u1", at=sh("2026-11-26T09:00:00"))        # 3 of the term's 7 days in
    assert replies[-1] == "张三 已退出值班名单，由 @李四 接着值班，到 11.30（周一）00:00。"
    assert private(c.sent, "u_owner") == [
        "值班提醒：张三 在值班期间退出了（或离开了群、删除了资料），现在由 李四 值班；张三 的津贴按实际值班天数计算。"]
    assert private(c.sent, "u2")[-1].startswith("你从 11.26（周四）09:00 起值班")
    await c.tick(TERM2 + timedelta(minutes=1))
    # Nobody answered: no tier met, nothing paid to either; the shares are recorded.
    assert [(s[0], s[2], s[3], s[4]) for s in await shifts(c)][:2] == [("张三", "left", 0, 0), ("李四", "term", 0, 0)]
    assert "由 @王五 值班" in handovers(c.sent)[-1]


async def test_a_shift_cut_short_is_paid_by_the_time_served(make_chat):
    c = await duty_chat(make_chat)
    await queue_up(c, "u1", "u2")
    await c.say("/基金 入账 1000 运营费", "u_owner")
    await c.say("/提问 如何做增长\n背景", "u3", at=sh("2026-11-24T09:00:00"))
    await c.say("/回答 Q1 先找到留存", "u2")
    await c.say("/值班 退出", "u1", at=sh("2026-11-26T09:00:00"))       # 3 days on duty of the term's 6 days 15 h
    await c.tick(TERM2 + timedelta(minutes=1))
    term = (TERM2 - sh("2026-11-23T00:00:00")).total_seconds()
    first = int(100_00 * 50 * timedelta(days=3).total_seconds() // (100 * term))
    assert [(s[0], s[3], s[4]) for s in await shifts(c)][:2] == [("张三", 50, first), ("李四", 0, 0)]
    [entry] = await stipend_entries(c)
    assert entry[:4] == (entry[0], "stipend", first, "张三")
    assert "值班 3.0/7 天" in entry[4]


async def test_the_last_one_leaving_leaves_the_duty_to_the_owners_who_are_told(make_chat):
    c = await duty_chat(make_chat)
    await queue_up(c, "u1", "u2")
    assert (await c.say("/值班 退出", "u2"))[0] == "值班提醒：值班名单只剩 张三 一人，每一期都会是 TA 值班。请邀请更多成员 /值班 报名。"
    replies = await c.say("/值班 退出", "u1")
    assert "值班提醒：值班名单空了，现在的值班由群主负责。请邀请成员 /值班 报名。" in replies
    assert "张三 已退出值班名单。名单里没有其他人了，本期剩下的时间由群主负责。" in replies
    assert await c.say("/值班 退出", "u1") == [to("u1", "张三 不在值班名单里。")]
    rows = await c.tick(TERM2 + timedelta(minutes=1))
    assert handovers(rows) == ["📋 本期（11.30–12.6）没有人报名值班，由群主负责。想参与轮值的请发送 /值班 报名。"]
    assert private(rows, "u_owner") == ["值班提醒：值班名单空了，现在的值班由群主负责。请邀请成员 /值班 报名。"]


async def test_only_owners_take_someone_else_out(make_chat):
    c = await duty_chat(make_chat)
    await queue_up(c, "u1", "u2")
    assert await c.say("/值班 退出 @李四", "u1", mentions=["u2"]) == [to("u1", "只有群主可以让别人退出值班。")]
    assert (await c.say("/值班 退出 @李四", "u_owner", mentions=["u2"]))[-1] == "李四 已退出值班名单。"


async def test_leaving_the_group_while_on_duty_hands_over(make_chat):
    c = await duty_chat(make_chat)
    await queue_up(c, "u1", "u2")
    await c.leave("u1")
    await c.flush()
    assert [(s[0], s[2]) for s in await shifts(c)] == [("张三", "gone"), ("李四", None)]
    assert "1. 李四 ← 值班中" in (await c.say("/值班", "u3"))[0]


async def test_deleting_ones_data_while_on_duty_hands_over(make_chat):
    c = await duty_chat(make_chat)
    await queue_up(c, "u1", "u2")
    await c.say("/资料 删除", "u1")
    await c.say("/资料 删除 确认", "u1")
    assert [s[2] for s in await shifts(c)] == ["gone", None]
    listing = (await c.say("/值班", "u3"))[0]
    assert "现在值班：李四" in listing and "张三" not in listing
    async with c.app.sessions() as db:
        assert [g.user_id for g in await db.scalars(select(RoleGrant))] == ["u2"]


# ---- routing and KPIs ------------------------------------------------------------------------------------------

async def test_routing_passes_the_request_on_privately(make_chat):
    c = await duty_chat(make_chat)
    await queue_up(c, "u1")
    await c.say("/提问 如何做增长\n背景", "u3")
    assert await c.say("/值班 邀答 Q1 @李四", "u1", mentions=["u2"]) == [
        "值班版主 张三 想请你回答 Q1「如何做增长」。查看：/问题 Q1；回答：/回答 Q1 内容",
        to("u1", "已私信请 李四 回答 Q1。TA 回答后会计入本期的邀答考核。")]
    assert private(c.sent, "u2") == ["值班版主 张三 想请你回答 Q1「如何做增长」。查看：/问题 Q1；回答：/回答 Q1 内容"]
    assert await c.say("/值班 邀答 Q1 @李四", "u1", mentions=["u2"]) == [to("u1", "已经请 李四 回答过 Q1 了。")]
    assert await c.say("/值班 邀答 Q1 @王五", "u1", mentions=["u3"]) == [to("u1", "王五 是 Q1 的提问人。")]
    assert await c.say("/值班 邀答 Q9 @李四", "u1", mentions=["u2"]) == [to("u1", "没有找到问题 Q9。发送 /问题列表 查看进行中的问题。")]
    assert await c.say("/值班 邀答 Q1", "u1") == [to("u1", "用法：/值班 邀答 Q12 @成员（请一位成员回答一个问题）")]
    assert await c.say("/值班 邀答 Q1 @张三", "u2", mentions=["u1"]) == [to("u2", "这个命令需要「版主」权限。")]


async def test_each_kpi_figure_of_a_known_term(make_chat):
    c = await duty_chat(make_chat, members=("u_owner", "u1", "u2", "u3", "u4"))
    await queue_up(c, "u1", "u2")
    await c.say("/提问 如何做增长\n背景", "u3", at=sh("2026-11-24T10:00:00"))         # Q1
    await c.say("/提问 怎么定价\n背景", "u3", at=sh("2026-11-24T11:00:00"))           # Q2
    await c.say("/提问 如何招人\n背景", "u4", at=sh("2026-11-24T12:00:00"))           # Q3: never answered
    await c.say("/值班 邀答 Q2 @赵六", "u1", mentions=["u4"], at=sh("2026-11-24T11:30:00"))
    await c.say("/回答 Q1 先看留存", "u2", at=sh("2026-11-24T12:00:00"))              # 2 h after Q1
    await c.say("/回答 Q1 再看渠道", "u4", at=sh("2026-11-24T13:00:00"))
    await c.say("/回答 Q2 按价值定价", "u4", at=sh("2026-11-24T15:00:00"))            # 4 h after Q2, routed
    await c.say("/最佳 Q1 A1", "u3")
    await c.say("/打赏 A1 5", "u3")
    await c.say("/打赏 A3 3", "u1")
    await c.say("今天聊聊增长", "u3")
    await c.say("/周报", "u1")
    await c.say("/周报 发布", "u1", room=None)
    text = (await c.say("/值班 KPI", "u3", at=sh("2026-11-28T09:00:00")))[0]
    assert text.split("\n")[1:] == [
        "【本期 11.23–11.29】",
        "张三（11.23（周一）09:00 至 11.30（周一）00:00）",
        "  答题人 2 位，回答 3 条，回答共得 8 分",
        "  提问 3 个，已有回答 2 个（66%），未回答 1 个；选出最佳 1 个；首答中位用时 3.0 小时",
        "  邀答 1 次，其中 1 次对方已回答",
        "  周报：值班版主发布 1 期，自动发布 0 期",
        "  按目前的数字可得津贴的 50%"]
    assert text.split("\n")[0] == ("值班考核（全部自动统计）。津贴档位：答题人≥2 且答复率≥100% 得 100%、"
                                   "答题人≥1 且答复率≥0% 得 50%、其余 0")


async def test_an_auto_published_digest_counts_as_such(make_chat):
    c = await duty_chat(make_chat)
    await queue_up(c, "u1", "u2")
    await c.say("今天聊聊增长", "u3")
    await c.tick(TERM2 + timedelta(minutes=1))
    text = (await c.say("/值班 KPI", "u3"))[0]
    assert "【上一期 11.23–11.29】\n张三（11.23（周一）09:00 至 11.30（周一）00:00）" in text
    assert "  周报：值班版主发布 0 期，自动发布 1 期" in text


# ---- stipends ----------------------------------------------------------------------------------------------------

async def answered_by(c, *users: str) -> None:
    """A question asked and answered by each of `users` during the first term."""
    await c.say("/提问 如何做增长\n背景", "u3", at=sh("2026-11-24T10:00:00"))
    for user in users:
        await c.say("/回答 Q1 一个回答", user)


@pytest.mark.parametrize("answerers, share", [(("u2", "u_owner"), 100), (("u2",), 50), ((), 0)])
async def test_the_stipend_is_the_tier_share_of_the_term_and_recorded_with_its_rule(make_chat, answerers, share):
    c = await duty_chat(make_chat, duty={"prorate": False})
    await queue_up(c, "u1", "u2")
    await c.say("/基金 入账 500 运营费", "u_owner")
    await answered_by(c, *answerers)
    rows = await c.tick(TERM2 + timedelta(minutes=1))
    amount = 100_00 * share // 100
    entries = await stipend_entries(c)
    assert [e[1:4] for e in entries] == ([("stipend", amount, "张三")] if amount else [])
    if amount:
        assert entries[0][4] == (f"KPI 答题人 {len(answerers)}、答复率 100% → {share}%；值班 6.6/7 天；规则：答题人≥2 且"
                                 "答复率≥100% 得 100%、答题人≥1 且答复率≥0% 得 50%、其余 0")
    assert (await balances(c)).get(f"stipend:{await member_id(c, 'u1')}", 0) == amount
    outgoing = private(rows, "u1")[0]
    assert outgoing.startswith("你的值班（11.23（周一）09:00 至 11.30（周一）00:00）结束了，辛苦了！本期考核：")
    if amount:
        assert f"  津贴 ¥{amount // 100}.00（档位 {share}%，值班 6.6/7 天）" in outgoing
    else:
        assert outgoing.endswith("本期没有达到津贴档位，没有津贴。规则：答题人≥2 且答复率≥100% 得 100%、答题人≥1 且答复率≥0% 得 50%、其余 0")


async def test_auto_stipend_is_the_ops_balance_over_the_terms_left(make_chat):
    c = await duty_chat(make_chat, stipend="auto", fund={"weeks": 4})
    await queue_up(c, "u1", "u2")
    await c.say("/基金 入账 1000 运营费", "u_owner")
    await answered_by(c, "u2", "u_owner")
    await c.tick(TERM2 + timedelta(minutes=1))
    # The fund ends at 12.21: terms ending 11.30, 12.7, 12.14, 12.21 are left. Prorated to 6 d 15 h of 7 days.
    term = (TERM2 - sh("2026-11-23T00:00:00")).total_seconds()
    served = (TERM2 - sh("2026-11-23T09:00:00")).total_seconds()
    first = int(1000_00 // 4 * 100 * served // (100 * term))
    assert [e[2] for e in await stipend_entries(c)] == [first]
    await c.say("/回答 Q1 又一个", "u1", at=sh("2026-12-01T10:00:00"))
    await c.say("/回答 Q1 再一个", "u3")
    await c.tick(TERM3 + timedelta(minutes=1))
    # Stipends already posted have left the balance: (1000 - first) / 3 terms left.
    assert [e[2] for e in await stipend_entries(c)] == [first, (1000_00 - first) // 3]


async def test_an_empty_ops_account_owes_the_stipend_as_unfunded_and_later_income_covers_it(make_chat):
    c = await duty_chat(make_chat, duty={"prorate": False})
    await queue_up(c, "u1", "u2")
    await c.say("/基金 入账 30 运营费", "u_owner")
    await answered_by(c, "u2", "u_owner")
    await c.tick(TERM2 + timedelta(minutes=1))
    assert [e[1:3] for e in await stipend_entries(c)] == [("stipend", 30_00), ("stipend_unfunded", 70_00)]
    held = await balances(c)
    assert held["ops"] == 0 and held["unfunded"] == -70_00
    assert held[f"stipend:{await member_id(c, 'u1')}"] == 100_00
    assert "值班津贴：待付 ¥100.00 · 已付 ¥0.00 · 欠付（运营账户不足）¥70.00" in (await c.say("/基金", "u3"))[0]
    assert "，其中 ¥70.00 运营账户暂时不够，先记为欠付" in private(c.sent, "u1")[-1]
    await c.say("/基金 入账 500 运营费", "u_owner")
    await c.tick(TERM3 + timedelta(minutes=1))
    held = await balances(c)
    assert held["unfunded"] == 0 and held["ops"] == 500_00 - 70_00     # 李四's term: nobody answered, no stipend


async def test_stipends_are_marked_paid_like_rewards_and_fund_shows_them(make_chat):
    c = await duty_chat(make_chat, duty={"prorate": False})
    await queue_up(c, "u1", "u2")
    await c.say("/基金 入账 500 运营费", "u_owner")
    await answered_by(c, "u2")
    await c.tick(TERM2 + timedelta(minutes=1))
    assert await c.say("/基金 已付 @张三", "u_owner", mentions=["u1"]) == ["已确认付款：\n#3 张三 ¥50.00（值班津贴）"]
    assert "值班津贴：待付 ¥0.00 · 已付 ¥50.00 · 欠付（运营账户不足）¥0.00" in (await c.say("/基金", "u3"))[0]
    assert (await balances(c))[f"stipend:{await member_id(c, 'u1')}"] == 0


async def test_fund_shows_no_stipend_line_before_any_stipend(make_chat):
    c = await duty_chat(make_chat)
    assert "值班津贴" not in (await c.say("/基金", "u3"))[0]


# ---- restarts and downtime -------------------------------------------------------------------------------------

async def test_a_restart_exactly_at_handover_announces_once_and_pays_once(make_chat):
    c = await duty_chat(make_chat, duty={"prorate": False})
    await queue_up(c, "u1", "u2")
    await c.say("/基金 入账 500 运营费", "u_owner")
    await answered_by(c, "u2")
    await c.tick(TERM2)
    await restart(c, TERM2)
    await restart(c, TERM2 + timedelta(seconds=1))
    await c.tick(TERM2 + timedelta(hours=1))
    assert len(handovers(c.sent)) == 1
    assert [e[2] for e in await stipend_entries(c)] == [50_00]


async def test_terms_missed_while_down_are_each_paid_once_in_order_and_only_the_current_announced(make_chat):
    c = await duty_chat(make_chat, duty={"prorate": False, "tiers": [{"share": 100, "answerers": 0}]})
    await queue_up(c, "u1", "u2", "u3")
    await c.say("/基金 入账 1000 运营费", "u_owner")
    await restart(c, TERM4 + timedelta(hours=2))        # down over three handovers
    assert handovers(c.sent) == [
        "📋 值班交接：从现在起到 12.21（周一）00:00 由 @张三 值班。感谢 王五 上一期的值班！下一位：李四。有问题找值班版主；/值班 查看名单。"]
    assert [(e[2], e[3]) for e in await stipend_entries(c)] == [(100_00, "张三"), (100_00, "李四"), (100_00, "王五")]
    await restart(c, TERM4 + timedelta(hours=3))
    assert len(await stipend_entries(c)) == 3 and len(handovers(c.sent)) == 1


# ---- WeCom: only @-messages, no private messages -------------------------------------------------------------

async def test_on_a_platform_without_private_messages_notes_go_to_the_group(make_chat):
    c = await duty_chat(make_chat, capabilities=frozenset({Capability.MENTION_IDS}))
    await c.say("我在", "u1")
    replies = await c.say("/值班 报名", "u1")
    assert replies[0] == to("u1", JOINED_ON_DUTY)
    assert replies[1].startswith(to("u1", "你从 11.23（周一）09:00 起值班"))
    await c.say("/提问 如何做增长\n背景", "u3")
    assert await c.say("/值班 邀答 Q1 @李四", "u1", mentions=["u2"]) == [
        "@李四 值班版主 张三 想请你回答 Q1「如何做增长」。查看：/问题 Q1；回答：/回答 Q1 内容"]
    assert not [r for r in c.sent if r.get("user")]


async def test_help_lists_the_duty_verbs(make_chat):
    c = await duty_chat(make_chat)
    text = (await c.say("/帮助 值班", "u1"))[0]
    assert "/值班 报名 /mod join — 报名值班" in text and "/值班 跳过 /mod skip — 跳过现在值班的人，由下一位接班（群主）" in text


async def test_the_handover_note_lists_open_questions_with_the_members_the_directory_suggests(make_chat):
    c = await duty_chat(make_chat)
    await c.signup("u2", "职位=增长负责人; 擅长=用户增长、转介绍")
    await c.say("/提问 教育产品如何做用户增长\n转介绍率太低", "u3")
    await c.say("/提问 怎么定价\n背景", "u3")
    await c.say("/回答 Q2 按价值定价", "u1")
    await queue_up(c, "u1", "u4")
    note = private(c.sent, "u1")[-1]
    assert note.split("\n")[-2:] == ["还没有人回答的问题（1 个）：", "· Q1 教育产品如何做用户增长 — 可以请：李四"]
    assert "3. 暖场每周分享会：下一场在 11.25（周三）20:00" in note
    assert "11.29（周日）20:00 前还没发布的话会自动发布" in note


# ---- the example ---------------------------------------------------------------------------------------------

@pytest.mark.sqlite_only
def test_the_example_plays_two_terms(tmp_path):
    from tests.test_simulate import ROOT, rows_of, run_simulate

    rows = rows_of(run_simulate(ROOT / "examples" / "duty.jsonl", tmp_path, tmpdir=tmp_path))
    rows = [r for r in rows if r["type"] == "say"]
    assert [r["text"].split("由 ")[1][:3] for r in rows if r["text"].startswith("📋 值班交接")] == ["@王五", "@张三"]
    assert "王五 已退出值班名单，由 @李四 接着值班，到 12.7（周一）00:00。" in [r["text"] for r in rows]
    assert "  津贴 ¥28.86（档位 50%，值班 4.0/7 天）" in private(rows, "u2")[-1]
    assert rows[-1]["text"] == "已确认付款：\n#4 张三 ¥47.29（值班津贴）"


async def test_a_term_starting_with_one_in_the_queue_warns_the_owners(make_chat):
    c = await duty_chat(make_chat)
    await queue_up(c, "u1")
    rows = await c.tick(TERM2 + timedelta(minutes=1))
    assert handovers(rows) == [
        "📋 值班交接：从现在起到 12.7（周一）00:00 由 @张三 值班。下一位：还是 TA（名单里没有别人）。有问题找值班版主；/值班 查看名单。"]
    assert private(rows, "u_owner") == ["值班提醒：值班名单只剩 张三 一人，每一期都会是 TA 值班。请邀请更多成员 /值班 报名。"]


async def test_skipping_with_nobody_on_duty_skips_the_next_turn(make_chat):
    c = await duty_chat(make_chat)
    await queue_up(c, "u1", "u2", "u3")
    await c.say("/值班 退出", "u1")          # 李四 takes over
    await c.say("/值班 跳过", "u_owner")     # 王五 takes over from 李四
    assert await c.say("/值班 跳过", "u2") == [to("u2", "这个命令需要「群主」权限。")]
    assert "现在值班：王五" in (await c.say("/值班", "u3"))[0]
    await c.say("/值班 退出", "u3")          # 李四 again, alone
    assert await c.say("/值班 跳过", "u_owner") == [to("u_owner", "名单里只有现在值班的这一位，跳过后没有人接班。")]


@pytest.mark.parametrize("duty, message", [
    ({"term": "3d"}, "duty.term: a term is 1w..12w (weeks) or 1m..12m (months), e.g. '1w', '2m'"),
    ({"term": "13w"}, "duty.term: a term is 1w..12w (weeks) or 1m..12m (months), e.g. '1w', '2m'"),
    ({"stipend": "lots"}, "duty.stipend: not an amount in yuan"),
    ({"tiers": [{"share": 50}, {"share": 100}]}, "duty.tiers: list the tiers from the highest share down"),
])
def test_a_bad_duty_setting_names_its_key(duty, message):
    from bot.config import ConfigError
    from tests.conftest import make_config

    with pytest.raises(ConfigError) as caught:
        make_config(duty=duty)
    assert message in str(caught.value)
