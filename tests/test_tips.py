"""Tipping points: a weekly allowance to give, points received to keep, answers tipped by their id."""
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from models import LedgerAccount, LedgerEntry, Member
from tests.conftest import to

USAGE = "用法：/打赏 @成员 10 理由，或 /打赏 A37 10 理由（分数是正整数）"
SELF = "不能给自己打赏。"
GONE = "对方已注销，不能再打赏。"
TOO_LONG = "理由太长了，最多 50 字。"
NEXT_MONDAY = datetime.fromisoformat("2026-11-30T00:00:00+08:00")


def points(left: int, week: int = 0, total: int | None = None, *, allowance: int = 100,
           reset: str = "11.30（周一）00:00") -> str:
    """The /积分 reply."""
    return (f"本周还能打赏 {left}/{allowance} 分（{reset} 重置，没用完的作废）。\n"
            f"收到的积分：本周 {week} 分，累计 {week if total is None else total} 分（收到的积分不能再打赏，计入排行）。")


def not_enough(left: int, amount: int) -> str:
    return f"本周额度只剩 {left} 分，不够打赏 {amount} 分。额度在每周开始时重置。"


async def ask_and_answer(chat) -> None:
    """李四 asks Q1; 王五 answers with A1, 张三 with A2."""
    await chat.say("/ask 冷启动怎么做\n我们是教育产品，第一批用户从哪来", "u2")
    assert await chat.say("/answer Q1 先从老用户转介绍开始", "u3") == [
        "@李四 你的问题 Q1 有新回答 A1。发送 /问题 Q1 查看；满意可以 /最佳 Q1 A1。"]
    await chat.say("/answer Q1 做一个免费的小工具引流", "u1")


async def member_row(chat, user: str) -> Member:
    async with chat.app.sessions() as db:
        return await db.scalar(select(Member).where(Member.user_id == user))


# ---- tipping -----------------------------------------------------------------------------------------------

async def test_tip_moves_points(chat):
    assert await chat.say("/打赏 @李四 5 讲得透彻", "u1", mentions=["u2"]) == [
        "张三 打赏了 @李四 5 分：讲得透彻（本周剩余 95 分）"]
    assert chat.sent[-1]["mentions"] == ["u2"]
    assert await chat.say("/积分", "u1") == [to("u1", points(95))]
    assert await chat.say("/points", "u2") == [to("u2", points(100, 5))]


async def test_tip_without_a_reason(chat):
    assert await chat.say("/tip @李四 5", "u1", mentions=["u2"]) == ["张三 打赏了 @李四 5 分（本周剩余 95 分）"]
    assert await chat.say("/打赏 @王五 10", "u1", mentions=["u3"]) == ["张三 打赏了 @王五 10 分（本周剩余 85 分）"]
    assert await chat.say("/积分", "u2") == [to("u2", points(100, 5))]
    assert await chat.say("/积分", "u3") == [to("u3", points(100, 10))]


async def test_tip_by_typed_name(chat):
    assert await chat.say("/打赏 @李四 5", "u1") == ["张三 打赏了 @李四 5 分（本周剩余 95 分）"]
    assert await chat.say("/积分", "u2") == [to("u2", points(100, 5))]


async def test_tip_by_answer_id_credits_the_author_and_names_the_answer(chat):
    await ask_and_answer(chat)
    assert await chat.say("/打赏 A1 10 很实用", "u2") == ["李四 打赏了 @王五 10 分（A1）：很实用（本周剩余 90 分）"]
    assert chat.sent[-1]["mentions"] == ["u3"]
    assert await chat.say("/tip a2 3", "u3") == ["王五 打赏了 @张三 3 分（A2）（本周剩余 97 分）"]
    assert await chat.say("/积分", "u3") == [to("u3", points(97, 10))]
    assert await chat.say("/积分", "u1") == [to("u1", points(100, 3))]
    assert await chat.say("/积分", "u2") == [to("u2", points(90))]


async def test_tip_records_who_why_and_which_message(chat):
    await ask_and_answer(chat)
    await chat.say("/打赏 A1 10 很实用", "u2", id="m-tip")
    giver, author = await member_row(chat, "u2"), await member_row(chat, "u3")
    async with chat.app.sessions() as db:
        [entry] = await db.scalars(select(LedgerEntry).where(LedgerEntry.kind == "tip"))
        debit, credit = await db.get(LedgerAccount, entry.debit_id), await db.get(LedgerAccount, entry.credit_id)
    assert (entry.amount, entry.actor_id, entry.member_id, entry.reason, entry.cause) == (
        10, giver.id, author.id, "很实用", "m-tip")
    assert entry.answer_id is not None and entry.question_id is not None
    assert (debit.kind, debit.member_id, credit.key) == ("allowance", giver.id, f"received:{author.id}")


async def test_tipping_an_answer_of_a_closed_question(chat):
    await ask_and_answer(chat)
    await chat.say("/close Q1", "u2")
    assert await chat.say("/打赏 A1 20", "u1") == ["张三 打赏了 @王五 20 分（A1）（本周剩余 80 分）"]
    assert await chat.say("/积分", "u3") == [to("u3", points(100, 20))]


async def test_tip_by_answer_id_in_private_chat(chat):
    await ask_and_answer(chat)
    assert await chat.dm("/打赏 A1 10 谢谢", "u1") == ["张三 打赏了 王五 10 分（A1）：谢谢（本周剩余 90 分）"]
    assert chat.sent[-1]["user"] == "u1" and "room" not in chat.sent[-1]
    assert not chat.sent[-1].get("mentions")
    assert await chat.dm("/积分", "u1") == [points(90)]
    assert await chat.say("/积分", "u3") == [to("u3", points(100, 10))]


async def test_the_whole_allowance_can_be_given_at_once(chat):
    assert await chat.say("/打赏 @李四 100", "u1", mentions=["u2"]) == ["张三 打赏了 @李四 100 分（本周剩余 0 分）"]
    assert await chat.say("/打赏 @王五 1", "u1", mentions=["u3"]) == [to("u1", not_enough(0, 1))]
    assert await chat.say("/积分", "u1") == [to("u1", points(0))]


async def test_the_weekly_allowance_comes_from_config(make_chat):
    c = await make_chat(tips={"weekly_allowance": 20})
    assert await c.say("/打赏 @李四 21", "u1", mentions=["u2"]) == [to("u1", "21 分超过了每周额度（20 分）。")]
    assert await c.say("/积分", "u1") == [to("u1", points(20, allowance=20))]
    assert await c.say("/打赏 @李四 20", "u1", mentions=["u2"]) == ["张三 打赏了 @李四 20 分（本周剩余 0 分）"]
    assert await c.say("/积分", "u1") == [to("u1", points(0, allowance=20))]


# ---- bad input --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, mentions, reply", [
    ("/打赏 @李四 0", ["u2"], "打赏的分数至少是 1。"),
    ("/打赏 @李四 -5", ["u2"], "打赏的分数不能是负数。"),
    ("/打赏 @李四 −5", ["u2"], "打赏的分数不能是负数。"),
    ("/打赏 A1 -5", [], "打赏的分数不能是负数。"),
    ("/打赏 @李四 1.5", ["u2"], "打赏的分数必须是整数。"),
    ("/打赏 A1 1.5", [], "打赏的分数必须是整数。"),
    ("/打赏 @李四 101", ["u2"], "101 分超过了每周额度（100 分）。"),
    ("/打赏 A1 500", [], "500 分超过了每周额度（100 分）。"),
    ("/打赏 @李四 abc", ["u2"], USAGE),
    ("/打赏 @李四 ²", ["u2"], USAGE),                      # digits that are not ASCII digits
    ("/打赏 @李四 ٣", ["u2"], USAGE),
    ("/打赏 A¹ 5", [], USAGE),
    ("/打赏 @李四 " + "9" * 5000, ["u2"], "9" * 11 + "… 分超过了每周额度（100 分）。"),
    ("/打赏 @李四 十", ["u2"], USAGE),
    ("/打赏 @李四 讲得透彻", ["u2"], USAGE),
    ("/打赏 @李四", ["u2"], USAGE),
    ("/打赏 A1", [], USAGE),
    ("/打赏 5", [], USAGE),
    ("/打赏", [], USAGE),
    ("/打赏 @李四 @王五 5", ["u2", "u3"], USAGE),
    ("/打赏 @张三 5", ["u1"], SELF),
    ("/打赏 @张三 5", [], SELF),
    ("/打赏 A2 5", [], SELF),
    ("/打赏 A99 5", [], "没有找到回答 A99。回答编号以 A 开头，发送 /问题 Q编号 可以看到。"),
    ("/打赏 @赵六 5", ["u4"], "群里没有「赵六」。"),
    ("/打赏 @无名 5", [], "群里没有「无名」。"),
    ("/打赏 @李四 5 " + "好" * 51, ["u2"], TOO_LONG),
])
async def test_bad_tip_gets_a_specific_reply_and_moves_nothing(chat, text, mentions, reply):
    await ask_and_answer(chat)
    assert await chat.say(text, "u1", mentions=mentions) == [to("u1", reply)]
    assert await chat.say("/积分", "u1") == [to("u1", points(100))]
    assert await chat.say("/积分", "u2") == [to("u2", points(100))]
    assert await chat.say("/积分", "u3") == [to("u3", points(100))]


async def test_a_huge_amount_is_refused_without_misquoting_it(chat):
    huge = "99999999999999999999"
    [reply] = await chat.say(f"/打赏 @李四 {huge}", "u1", mentions=["u2"])
    shown = reply.removeprefix("@张三 ").removesuffix(" 分超过了每周额度（100 分）。")
    assert shown != reply, reply
    # The amount typed, or a visibly shortened form of it: never a different number.
    assert shown == huge or (shown.endswith("…") and huge.startswith(shown[:-1])), reply
    assert await chat.say("/积分", "u1") == [to("u1", points(100))]
    assert await chat.say("/积分", "u2") == [to("u2", points(100))]


async def test_more_than_the_allowance_left(chat):
    await chat.say("/打赏 @李四 60", "u1", mentions=["u2"])
    assert await chat.say("/打赏 @王五 50 谢谢", "u1", mentions=["u3"]) == [to("u1", not_enough(40, 50))]
    assert await chat.say("/积分", "u1") == [to("u1", points(40))]
    assert await chat.say("/积分", "u3") == [to("u3", points(100))]
    assert await chat.say("/打赏 @王五 40", "u1", mentions=["u3"]) == ["张三 打赏了 @王五 40 分（本周剩余 0 分）"]
    assert await chat.say("/积分", "u2") == [to("u2", points(100, 60))]
    assert await chat.say("/积分", "u3") == [to("u3", points(100, 40))]


async def test_a_member_who_left_the_group_cannot_be_tipped(chat):
    await chat.leave("u3")
    assert await chat.say("/打赏 @王五 5", "u1", mentions=["u3"]) == [to("u1", "群里没有「王五」。")]
    assert await chat.say("/积分", "u1") == [to("u1", points(100))]


async def test_a_member_who_deleted_their_data_cannot_be_tipped(chat):
    await ask_and_answer(chat)
    old = await member_row(chat, "u3")
    await chat.say("/资料 删除", "u3")
    assert await chat.say("/资料 删除 确认", "u3") == [to("u3", "你的资料和个人信息已删除。")]
    pseudonym = f"已注销成员#{old.id}"

    assert await chat.say("/打赏 A1 5", "u1") == [to("u1", GONE)]
    assert await chat.say(f"/打赏 @{pseudonym} 5", "u1") == [to("u1", f"群里没有「{pseudonym}」。")]
    assert await chat.say("/积分", "u1") == [to("u1", points(100))]
    async with chat.app.sessions() as db:
        assert list(await db.scalars(select(LedgerEntry).where(LedgerEntry.member_id == old.id))) == []
    # Still in the group as a new member: tips go to the new row.
    assert await chat.say("/打赏 @王五 5", "u1", mentions=["u3"]) == ["张三 打赏了 @王五 5 分（本周剩余 95 分）"]
    assert await chat.say("/积分", "u3") == [to("u3", points(100, 5))]


async def test_deleting_your_data_does_not_grant_a_second_allowance_in_the_same_week(chat):
    """Otherwise delete-and-tip again gives a friend unlimited points (and a place in the paid ranking)."""
    await chat.say("/打赏 @李四 100", "u1", mentions=["u2"])
    await chat.say("/资料 删除", "u1")
    await chat.say("/资料 删除 确认", "u1")
    assert await chat.say("/打赏 @李四 100", "u1", mentions=["u2"]) == [to("u1", not_enough(0, 100))]
    assert await chat.say("/积分", "u2") == [to("u2", points(100, 100))]


async def test_deleting_your_data_leaves_past_weeks_with_the_pseudonym(chat):
    """Only this week's allowance moves to the member's new roster row; their tipping history is not relinked."""
    await chat.say("/打赏 @李四 30", "u1", mentions=["u2"])
    await chat.tick(NEXT_MONDAY + timedelta(hours=9))
    await chat.say("/打赏 @李四 40", "u1", mentions=["u2"])
    old = await member_row(chat, "u1")
    await chat.say("/资料 删除", "u1")
    await chat.say("/资料 删除 确认", "u1")
    new = await member_row(chat, "u1")
    async with chat.app.sessions() as db:
        owners = {acc.week.date().isoformat(): acc.member_id for acc in await db.scalars(
            select(LedgerAccount).where(LedgerAccount.kind == "allowance"))}
    assert owners == {"2026-11-22": old.id, "2026-11-29": new.id}     # week starts in UTC
    assert await chat.say("/积分", "u1") == [to("u1", points(60, reset="12.7（周一）00:00"))]


async def test_a_reason_of_50_characters_is_fine_51_is_refused(chat):
    assert await chat.say("/打赏 @李四 5 " + "好" * 51, "u1", mentions=["u2"]) == [to("u1", TOO_LONG)]
    assert await chat.say("/打赏 @李四 5 " + "好" * 50, "u1", mentions=["u2"]) == [
        f"张三 打赏了 @李四 5 分：{'好' * 50}（本周剩余 95 分）"]
    assert await chat.say("/积分", "u2") == [to("u2", points(100, 5))]


async def test_a_reason_that_looks_short_but_is_long_is_refused(chat):
    """45 visible letters, 225 code points: more than the column holds, refused like any long reason."""
    assert await chat.say("/打赏 @李四 5 " + "e\u0301\u0302\u0303\u0304" * 45, "u1", mentions=["u2"]) == [to("u1", TOO_LONG)]
    assert await chat.say("/积分", "u2") == [to("u2", points(100))]


# ---- received points, the weekly reset, redelivery ---------------------------------------------------------

async def test_received_points_are_not_spendable(chat):
    await chat.say("/打赏 @李四 50", "u1", mentions=["u2"])
    assert await chat.say("/积分", "u2") == [to("u2", points(100, 50))]
    assert await chat.say("/打赏 @王五 101", "u2", mentions=["u3"]) == [to("u2", "101 分超过了每周额度（100 分）。")]
    assert await chat.say("/打赏 @王五 100", "u2", mentions=["u3"]) == ["李四 打赏了 @王五 100 分（本周剩余 0 分）"]
    assert await chat.say("/打赏 @王五 1", "u2", mentions=["u3"]) == [to("u2", not_enough(0, 1))]
    assert await chat.say("/积分", "u2") == [to("u2", points(0, 50))]
    assert await chat.say("/积分", "u3") == [to("u3", points(100, 100))]


async def test_the_allowance_resets_at_the_week_start_and_leftovers_expire(chat):
    await chat.say("/打赏 @李四 30", "u1", mentions=["u2"])
    await chat.tick(datetime.fromisoformat("2026-11-29T23:59:00+08:00"))
    assert await chat.say("/积分", "u1", step=timedelta(seconds=1)) == [to("u1", points(70))]

    await chat.tick(NEXT_MONDAY)
    tipper = await member_row(chat, "u1")
    async with chat.app.sessions() as db:     # expired by the job, before 张三 tips again
        [old] = await db.scalars(select(LedgerAccount).where(LedgerAccount.kind == "allowance"))
        [expired] = await db.scalars(select(LedgerEntry).where(LedgerEntry.kind == "expire"))
    assert (old.member_id, old.balance) == (tipper.id, 0)
    assert (expired.amount, expired.debit_id) == (70, old.id)
    assert expired.cause.startswith("job:reset_allowances:")

    next_reset = "12.7（周一）00:00"
    assert await chat.say("/积分", "u1") == [to("u1", points(100, reset=next_reset))]
    assert await chat.say("/积分", "u2") == [to("u2", points(100, 0, 30, reset=next_reset))]
    assert await chat.say("/打赏 @李四 100", "u1", mentions=["u2"]) == ["张三 打赏了 @李四 100 分（本周剩余 0 分）"]
    assert await chat.say("/打赏 @李四 1", "u1", mentions=["u2"]) == [to("u1", not_enough(0, 1))]
    assert await chat.say("/积分", "u2") == [to("u2", points(100, 100, 130, reset=next_reset))]


async def test_an_unused_allowance_is_not_saved_up_over_weeks(chat):
    await chat.say("/打赏 @李四 1", "u1", mentions=["u2"])
    await chat.tick(datetime.fromisoformat("2026-12-14T10:00:00+08:00"))       # three week starts later
    assert await chat.say("/打赏 @李四 101", "u1", mentions=["u2"]) == [to("u1", "101 分超过了每周额度（100 分）。")]
    assert await chat.say("/打赏 @李四 100", "u1", mentions=["u2"]) == ["张三 打赏了 @李四 100 分（本周剩余 0 分）"]
    assert await chat.say("/打赏 @李四 1", "u1", mentions=["u2"]) == [to("u1", not_enough(0, 1))]


async def test_the_same_message_delivered_twice_tips_once(chat):
    assert await chat.say("/打赏 @李四 5", "u1", mentions=["u2"], id="m1") == [
        "张三 打赏了 @李四 5 分（本周剩余 95 分）"]
    assert await chat.say("/打赏 @李四 5", "u1", mentions=["u2"], id="m1") == []
    assert await chat.say("/积分", "u1") == [to("u1", points(95))]
    assert await chat.say("/积分", "u2") == [to("u2", points(100, 5))]


async def test_a_redelivery_after_the_week_start_tips_nothing(chat):
    await chat.say("/打赏 @李四 5", "u1", mentions=["u2"], id="m1")
    await chat.tick(NEXT_MONDAY)
    assert await chat.say("/打赏 @李四 5", "u1", mentions=["u2"], id="m1") == []
    assert await chat.say("/积分", "u1") == [to("u1", points(100, reset="12.7（周一）00:00"))]
    assert await chat.say("/积分", "u2") == [to("u2", points(100, 0, 5, reset="12.7（周一）00:00"))]
