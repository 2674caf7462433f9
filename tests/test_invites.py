"""Referrals: personal invite codes, attribution by code or by the platform's inviter, what stays when an invitee
leaves or deletes their data, the ranking for the owners' report, and the optional reward."""
import re
from datetime import timedelta

from sqlalchemy import select

from handlers.invites import referral_ranking
from models import LedgerEntry
from tests.conftest import START, sh, to

CODE = re.compile(r"YQ-[2-9A-Z]{6}")


async def code_of(chat, user: str) -> str:
    [reply] = await chat.say("/邀请", user)
    found = CODE.search(reply)
    assert found and reply.startswith(to(user, f"你的专属邀请码：{found.group()}\n")), reply
    return found.group()


async def test_a_code_is_personal_stable_and_unlike_a_challenge_code(chat):
    code = await code_of(chat, "u1")
    assert await code_of(chat, "u1") == code
    assert await code_of(chat, "u2") != code
    assert re.fullmatch(r"YQ-[A-Z2-9]{6}", code)         # challenge codes are six characters without a prefix


async def test_a_redeemed_code_attributes_the_join(chat):
    code = await code_of(chat, "u1")
    await chat.join("u4")
    assert await chat.say(f"/邀请 {code.lower()}", "u4") == [to("u4", "已记录：你是 张三 邀请来的。欢迎！")]
    [listing] = await chat.say("/邀请 记录", "u1")
    assert listing == to("u1", "你邀请来 1 位成员，1 位还在群里，0 位登记了资料：\n• 赵六（11.23 入群，邀请码）— 在群里，未登记")
    await chat.signup("u4", "城市=杭州")
    assert (await chat.say("/invites", "u1"))[0].endswith("在群里，已登记")


async def test_the_platforms_inviter_attributes_a_join_until_a_code_is_redeemed(chat):
    await chat.join("u4", inviter="u2")
    assert await chat.say("/邀请记录", "u2") == [
        to("u2", "你邀请来 1 位成员，1 位还在群里，0 位登记了资料：\n• 赵六（11.23 入群，拉进群）— 在群里，未登记")]
    code = await code_of(chat, "u1")
    await chat.say(f"/邀请 {code}", "u4")
    assert await chat.say("/邀请记录", "u2") == [to("u2", "你还没有邀请过人。发送 /邀请 领取你的邀请码。")]
    assert "赵六（11.23 入群，邀请码）" in (await chat.say("/邀请记录", "u1"))[0]


async def test_the_attribution_stays_when_the_invitee_leaves_or_deletes_their_data(chat):
    await chat.join("u4", inviter="u2")
    await chat.leave("u4")
    assert (await chat.say("/invites", "u2"))[0].endswith("• 赵六（11.23 入群，拉进群）— 已退群，未登记")
    await chat.join("u4", inviter="u1")                    # back, added by someone else: the first join counts
    assert "赵六（11.23 入群，拉进群）— 在群里" in (await chat.say("/invites", "u2"))[0]
    await chat.say("/资料 删除 确认", "u4")
    [listing] = await chat.say("/invites", "u2")
    assert re.search(r"• 已注销成员#\d+（11\.23 入群，拉进群）— 已注销，未登记", listing), listing
    assert "赵六" not in listing


async def test_bad_codes_are_refused_and_change_nothing(chat):
    code = await code_of(chat, "u1")
    other = await code_of(chat, "u2")
    await chat.join("u4")
    assert await chat.say("/邀请 YQ-ZZZZZZ", "u4") == [
        to("u4", "邀请码 YQ-ZZZZZZ 不存在。邀请码形如 YQ-ABC234，请向邀请你的人核对。")]
    assert await chat.say("/邀请 ABC234", "u4") == [
        to("u4", "邀请码 ABC234 不存在。邀请码形如 YQ-ABC234，请向邀请你的人核对。")]
    assert await chat.say(f"/邀请 {code}", "u1") == [to("u1", "不能兑换自己的邀请码。把它发给你想邀请的朋友吧。")]
    await chat.say(f"/邀请 {code}", "u4")
    assert await chat.say(f"/邀请 {other}", "u4") == [to("u4", f"你已经用过邀请码 {code} 了，每人只能兑换一次。")]
    assert await chat.say("/邀请记录", "u2") == [to("u2", "你还没有邀请过人。发送 /邀请 领取你的邀请码。")]


async def test_a_code_redeemed_after_the_window_is_refused(chat):
    code = await code_of(chat, "u1")
    await chat.join("u4", inviter="u2")
    assert await chat.say(f"/邀请 {code}", "u4", at=START + timedelta(days=8)) == [
        to("u4", "邀请码要在入群后 7 天内兑换；你是 2026.11.23 入群的，已经过期了。")]
    assert "拉进群" in (await chat.say("/邀请记录", "u2"))[0]
    # Long-standing members cannot claim to have been invited either.
    assert (await chat.say(f"/邀请 {code}", "u3"))[0].startswith(to("u3", "邀请码要在入群后 7 天内兑换"))


async def test_the_referral_ranking_puts_who_brought_members_who_stayed_first(chat):
    code = await code_of(chat, "u1")
    for user in ("u4", "u5", "u6"):
        await chat.join(user, inviter="u2")
    await chat.join("u7")
    await chat.say(f"/邀请 {code}", "u7")
    await chat.signup("u7", "城市=北京")
    await chat.leave("u4")
    await chat.leave("u5")
    async with chat.app.sessions() as db:
        ctx = await chat.app.runtime.context(db, "growth", cause="test")
        ranked = [(r.inviter.display_name, r.joined, r.stayed, r.signed_up) for r in await referral_ranking(ctx)]
    assert ranked == [("张三", 1, 1, 1), ("李四", 3, 1, 0)]


async def test_an_inviter_is_rewarded_once_for_an_invitee_who_signed_up_and_stayed(make_chat):
    chat = await make_chat(invites={"reward_points": 5, "reward_cash": "20", "reward_after_weeks": 2},
                           treasurers=["u_owner"])
    await chat.say("/基金 入账 @老王 200 入群费", "u_owner", mentions=["u_owner"])
    await chat.join("u4", inviter="u1")
    await chat.join("u5", inviter="u1")
    await chat.signup("u4", "城市=北京")                    # u5 never signs up: no reward for them
    await chat.tick(sh("2026-12-14T00:00:01"))             # only 3 weeks later is u4 two full weeks in
    async with chat.app.sessions() as db:
        rows = [(e.unit, e.amount) for e in await db.scalars(select(LedgerEntry).where(LedgerEntry.kind == "referral"))]
    assert sorted(rows) == [("fen", 2000), ("points", 5)]
    await chat.tick(sh("2026-12-28T00:00:01"))
    async with chat.app.sessions() as db:
        assert len(list(await db.scalars(select(LedgerEntry).where(LedgerEntry.kind == "referral")))) == 2
    assert (await chat.say("/基金 流水", "u1"))[0].split("\n")[1] == "#2 12.14 邀请奖励 ¥20.00 · 张三（赵六）"
    # Referral points are not tips: they count neither in /积分's points received nor in the ranking.
    [points] = await chat.say("/积分", "u1")
    assert points.endswith("收到的积分：本周 0 分，累计 0 分（收到的积分不能再打赏，计入排行）。")


async def test_where_the_platform_tells_no_joins_a_code_counts_from_when_the_bot_first_saw_the_newcomer(make_chat):
    from bot.adapters.recording import ALL_CAPABILITIES
    from bot.events import Capability

    chat = await make_chat(capabilities=ALL_CAPABILITIES - {Capability.SEES_JOINS, Capability.MEMBER_LIST,
                                                            Capability.SEES_ALL_MESSAGES, Capability.CAN_DM})
    code = await code_of(chat, "u1")
    assert await chat.say(f"/邀请 {code}", "u9", name="新人") == [to("新人", "已记录：你是 张三 邀请来的。欢迎！")]
    assert (await chat.say("/邀请 记录", "u1"))[0].endswith("• 新人（11.23 入群，邀请码）— 在群里，未登记")
    [help] = await chat.say("/帮助", "u1")
    assert "邀请只能靠邀请码记账" in help


def test_the_growth_example_plays_referrals_tags_the_archive_and_a_promotion(tmp_path):
    from tests.test_simulate import ROOT, rows_of, run_simulate

    rows = rows_of(run_simulate(ROOT / "examples" / "growth.jsonl", tmp_path, tmpdir=tmp_path))
    texts = [r["text"] for r in rows if r["type"] == "say"]
    assert "@赵六 已记录：你是 张三 邀请来的。欢迎！" in texts
    assert "带 #增长 的成员共 1 位：\n1. 李四 — #增长 #社群" in texts
    assert "已记录：张三 晋升到「核心群」，入群方式已私聊发给对方。" in texts
    assert [r["text"] for r in rows if r.get("user") == "u2"] == [
        "你邀请来 1 位成员，1 位还在群里，0 位登记了资料：\n• 王五（11.23 入群，拉进群）— 在群里，未登记"]
