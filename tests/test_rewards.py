"""Weekly rewards: at the week's start the week's pool (pool balance // weeks left) is split over the top scorers
as payables, once per week, also when the bot was down; /fund paid records the money handed over."""
import pytest
from sqlalchemy import select

from models import JobRun
from tests.conftest import NAMES, to
from tests.test_scheduler import restart, sh

POOL = 5_200_00                       # fen: ¥5,200 in the reward pool
WEEK1_PAID = sh("2026-11-30T00:00:00")


def weekly_pool(pool: int, weeks_left: int) -> int:
    """DESIGN §6: the pool balance // weeks left to the end (52 weeks from the community's start)."""
    return pool // weeks_left


def split(pool: int, percents=(50, 30, 20)) -> list[int]:
    return [pool * p // 100 for p in percents]


def yuan(fen: int) -> str:
    return f"¥{fen // 100:,}.{fen % 100:02d}"


async def fund_pool(chat, amount: str = "5,200") -> None:
    assert (await chat.say(f"/fund in {amount} 捐赠", "u_owner"))[0].startswith("已记账")


async def score_week(chat) -> None:
    """张三 45 (a best answer 30, helped 王五 10, 5 points), 李四 30 (helped 王五 10, 20 points), 王五 7 points;
    the owner 老王 50 points (owners are not ranked)."""
    await chat.say("/ask 怎么做增长", "u3")
    await chat.say("/answer Q1 先找北极星指标", "u1")
    await chat.say("/answer Q1 做实验", "u2")
    await chat.say("/best Q1 A1", "u3")
    await chat.say("/tip @张三 5", "u2", mentions=["u1"])
    await chat.say("/tip @李四 20", "u3", mentions=["u2"])
    await chat.say("/tip @王五 7", "u1", mentions=["u3"])
    await chat.say("/tip @老王 50", "u1", mentions=["u_owner"])


async def tips(chat, *given: tuple[str, str, int]) -> None:
    """(giver, receiver, points) tips; points received are the only score."""
    for giver, receiver, points in given:
        [said] = await chat.say(f"/tip @{NAMES[receiver]} {points}", giver, mentions=[receiver])
        assert "打赏了" in said, said


async def rewards(chat) -> list[str]:
    """The weekly-reward entries of /fund log, oldest first: '周奖励 ¥50.00 · 张三'."""
    [log] = await chat.say("/fund log", "u_owner")
    return [line.split(" ", 2)[2] for line in reversed(log.split("\n")[1:]) if " 周奖励 " in line]


async def fund_lines(chat, *starts: str) -> list[str]:
    [shown] = await chat.say("/fund", "u1")
    return [line for line in shown.split("\n") if line.startswith(starts)]


def ranking_posts(chat) -> list[dict]:
    return [row for row in chat.sent if row.get("text", "").startswith("🏆")]


async def payout_runs(chat) -> list:
    async with chat.app.sessions() as db:
        return [(r.period, r.status) for r in await db.scalars(
            select(JobRun).where(JobRun.job == "pay_weekly_rewards").order_by(JobRun.period))]


# ---- the weekly payout ---------------------------------------------------------------------------------------

async def test_monday_midnight_pays_the_weekly_pool_by_the_split(chat):
    await fund_pool(chat)
    await score_week(chat)
    await chat.tick(sh("2026-11-29T23:59:00"))
    assert await rewards(chat) == []                            # nothing before the week ends

    await chat.tick(WEEK1_PAID)
    first, second, third = split(weekly_pool(POOL, 52))
    assert (first, second, third) == (50_00, 30_00, 20_00)
    assert await rewards(chat) == [f"周奖励 {yuan(first)} · 张三", f"周奖励 {yuan(second)} · 李四",
                                   f"周奖励 {yuan(third)} · 王五"]
    paid = first + second + third
    await chat.tick(sh("2026-11-30T09:30:00"))
    assert await fund_lines(chat, "奖励池", "本周奖池", "上周奖励", "1.", "2.", "3.") == [
        f"奖励池：{yuan(POOL - paid)} 可分配（另有待付奖励 {yuan(paid)}）",
        f"本周奖池：{yuan(weekly_pool(POOL - paid, 51))} = {yuan(POOL - paid)} ÷ 剩余 51 周（至 2027.11.22）",
        "上周奖励（11.23–11.29）：",
        f"1. 张三 {yuan(first)}（待付）",
        f"2. 李四 {yuan(second)}（待付）",
        f"3. 王五 {yuan(third)}（待付）"]


async def test_fund_shows_the_pool_this_week_will_pay_also_early_on_monday(chat):
    await fund_pool(chat)
    await score_week(chat)
    await chat.tick(sh("2026-11-30T08:00:00"))                # the first week was paid at midnight
    paid = sum(split(weekly_pool(POOL, 52)))
    this_week = weekly_pool(POOL - paid, 51)                  # what the payout of 12.7 00:00 will spread
    shown = f"本周奖池：{yuan(this_week)} = {yuan(POOL - paid)} ÷ 剩余 51 周（至 2027.11.22）"
    assert await fund_lines(chat, "本周奖池") == [shown]
    await tips(chat, ("u3", "u1", 10))
    await chat.tick(sh("2026-12-07T00:00:00"))
    assert (await rewards(chat))[3:] == [f"周奖励 {yuan(split(this_week)[0])} · 张三"]


async def test_equal_totals_share_the_amounts_of_their_places(chat):
    await fund_pool(chat)
    await tips(chat, ("u3", "u1", 10), ("u3", "u2", 10), ("u1", "u3", 5))
    await chat.tick(WEEK1_PAID)
    first, second, third = split(weekly_pool(POOL, 52))
    shared = (first + second) // 2
    assert await rewards(chat) == [f"周奖励 {yuan(shared)} · 张三", f"周奖励 {yuan(shared)} · 李四",
                                   f"周奖励 {yuan(third)} · 王五"]
    assert await fund_lines(chat, "1.", "2.", "3.") == [
        f"1. 张三 {yuan(shared)}（待付）", f"1. 李四 {yuan(shared)}（待付）", f"3. 王五 {yuan(third)}（待付）"]


async def test_fen_that_do_not_divide_evenly_stay_in_the_pool(make_chat):
    c = await make_chat(fund={"top_n": 2, "split": [60, 40]})
    await fund_pool(c)
    await tips(c, ("u3", "u1", 10), ("u1", "u2", 10), ("u2", "u3", 10))       # three share places 1 and 2
    await c.tick(WEEK1_PAID)
    each = sum(split(weekly_pool(POOL, 52), (60, 40))) // 3
    assert each == 33_33
    assert await rewards(c) == [f"周奖励 {yuan(each)} · 张三", f"周奖励 {yuan(each)} · 李四",
                                f"周奖励 {yuan(each)} · 王五"]
    assert await fund_lines(c, "奖励池") == [
        f"奖励池：{yuan(POOL - 3 * each)} 可分配（另有待付奖励 {yuan(3 * each)}）"]          # ¥5,100.01


async def test_fewer_scorers_than_places_leave_the_rest_in_the_pool_for_later_weeks(chat):
    await fund_pool(chat)
    await tips(chat, ("u3", "u1", 10), ("u3", "u2", 5))
    await chat.tick(WEEK1_PAID)
    first, second, _ = split(weekly_pool(POOL, 52))
    assert await rewards(chat) == [f"周奖励 {yuan(first)} · 张三", f"周奖励 {yuan(second)} · 李四"]
    left = POOL - first - second
    await chat.tick(sh("2026-11-30T09:30:00"))
    assert await fund_lines(chat, "奖励池", "本周奖池") == [
        f"奖励池：{yuan(left)} 可分配（另有待付奖励 {yuan(first + second)}）",
        f"本周奖池：{yuan(weekly_pool(left, 51))} = {yuan(left)} ÷ 剩余 51 周（至 2027.11.22）"]   # ¥100.39

    await tips(chat, ("u1", "u2", 3))                                        # the next week: one scorer
    await chat.tick(sh("2026-12-07T00:00:00"))
    week2 = split(weekly_pool(left, 51))[0]
    assert week2 == 50_19
    assert (await rewards(chat))[2:] == [f"周奖励 {yuan(week2)} · 李四"]


async def test_owners_are_neither_ranked_nor_paid(chat):
    await fund_pool(chat)
    await score_week(chat)                        # 老王 received the most points
    await chat.tick(WEEK1_PAID)
    assert [r.split(" · ")[1] for r in await rewards(chat)] == ["张三", "李四", "王五"]
    assert await chat.say("/fund paid @老王", "u_owner", mentions=["u_owner"]) == [to('u_owner', "老王 没有待付的奖励。")]


async def test_owners_are_paid_when_the_config_includes_them(make_chat):
    c = await make_chat(fund={"exclude_owners": False})
    await fund_pool(c)
    await score_week(c)
    await c.tick(WEEK1_PAID)
    first, second, third = split(weekly_pool(POOL, 52))
    assert await rewards(c) == [f"周奖励 {yuan(first)} · 老王", f"周奖励 {yuan(second)} · 张三",
                                f"周奖励 {yuan(third)} · 李四"]


async def test_the_pool_is_spread_until_the_configured_end_date(make_chat):
    c = await make_chat(fund={"end_date": "2027-01-25"})       # a Monday: the last of 9 payouts from 11.30 on
    await fund_pool(c)
    await tips(c, ("u3", "u1", 10))
    await c.tick(WEEK1_PAID)
    assert await rewards(c) == [f"周奖励 {yuan(split(weekly_pool(POOL, 9))[0])} · 张三"]        # ¥288.88


async def test_a_week_without_scorers_pays_nothing(chat):
    await fund_pool(chat)
    await chat.tick(sh("2026-12-01T00:00:00"))
    assert await rewards(chat) == []
    assert await fund_lines(chat, "奖励池", "上周奖励") == ["奖励池：¥5,200.00 可分配（另有待付奖励 ¥0.00）"]


async def test_an_empty_pool_records_the_week_without_payouts(chat):
    await score_week(chat)
    await chat.tick(WEEK1_PAID)
    assert await rewards(chat) == []
    assert await fund_lines(chat, "奖励池", "上周奖励", "（") == [
        "奖励池：¥0.00 可分配（另有待付奖励 ¥0.00）", "上周奖励（11.23–11.29）：", "（奖励池为空，没有发放）"]


# ---- money handed over ---------------------------------------------------------------------------------------

async def paid_week(chat) -> None:
    await fund_pool(chat)
    await score_week(chat)
    await chat.tick(WEEK1_PAID)
    assert len(await rewards(chat)) == 3


async def test_paid_moves_a_members_payable_to_paid(chat):
    await paid_week(chat)
    assert await chat.say("/fund paid @张三", "u_owner", mentions=["u1"]) == ["已确认付款：\n#5 张三 ¥50.00"]
    assert await fund_lines(chat, "奖励池", "累计收入", "1.", "2.", "3.") == [
        "奖励池：¥5,100.00 可分配（另有待付奖励 ¥50.00）",
        "累计收入 ¥5,200.00：入群费 ¥0.00 · 运营费 ¥0.00 · 捐赠 ¥5,200.00；已付出奖励 ¥50.00",
        "1. 张三 ¥50.00（已付）", "2. 李四 ¥30.00（待付）", "3. 王五 ¥20.00（待付）"]
    assert (await chat.say("/fund log", "u1"))[0].split("\n")[1] == "#5 11.30 奖励已付 ¥50.00 · 张三 · 老王 记账"
    assert await chat.say("/fund paid @张三", "u_owner", mentions=["u1"]) == [to('u_owner', "张三 没有待付的奖励。")]


async def test_a_partial_payment_then_the_rest(make_chat):
    c = await make_chat(treasurers=["u3"])
    await paid_week(c)
    assert await c.say("/基金 已付 @张三 20", "u3", mentions=["u1"]) == ["已确认付款：\n#5 张三 ¥20.00"]
    assert await fund_lines(c, "奖励池", "1.") == ["奖励池：¥5,100.00 可分配（另有待付奖励 ¥80.00）",
                                                  "1. 张三 ¥50.00（待付）"]
    assert await c.say("/fund paid @张三 40", "u3", mentions=["u1"]) == [to('u3', "¥40.00 超过了待付的 ¥30.00。")]
    assert await c.say("/fund paid @张三 abc", "u3", mentions=["u1"]) == [
        "@王五 「abc」不是金额。写法如 200、¥1,000.50、200元（最多两位小数）。"]
    assert await c.say("/fund paid @张三", "u3", mentions=["u1"]) == ["已确认付款：\n#6 张三 ¥30.00"]
    assert await fund_lines(c, "奖励池", "1.") == ["奖励池：¥5,100.00 可分配（另有待付奖励 ¥50.00）",
                                                  "1. 张三 ¥50.00（已付）"]


@pytest.mark.parametrize("word", ["全部", "all"])
async def test_paid_all_of_one_member(chat, word):
    await paid_week(chat)
    assert await chat.say(f"/基金 已付 @李四 {word}", "u_owner", mentions=["u2"]) == ["已确认付款：\n#5 李四 ¥30.00"]
    assert await fund_lines(chat, "2.", "3.") == ["2. 李四 ¥30.00（已付）", "3. 王五 ¥20.00（待付）"]


@pytest.mark.parametrize("amount", ["20 元", "¥ 20", "20.00 元"])
async def test_a_part_paid_written_with_a_space(chat, amount):
    await paid_week(chat)
    assert await chat.say(f"/基金 已付 @李四 {amount}", "u_owner", mentions=["u2"]) == ["已确认付款：\n#5 李四 ¥20.00"]


@pytest.mark.parametrize("words", ["1 2 3", "10 20", "全部 10", "10 全部"])
async def test_paid_with_more_than_one_amount_gets_the_usage_and_pays_nothing(chat, words):
    await paid_week(chat)
    assert await chat.say(f"/基金 已付 @李四 {words}", "u_owner", mentions=["u2"]) == [
        "@老王 用法：/基金 已付 @成员 [金额]，或 /基金 已付 全部"]
    assert await fund_lines(chat, "2.") == ["2. 李四 ¥30.00（待付）"]
    assert await chat.say("/基金 已付 全部 李四", "u_owner") == ["@老王 用法：/基金 已付 @成员 [金额]，或 /基金 已付 全部"]


async def test_paid_all_settles_everyone(chat):
    await paid_week(chat)
    assert await chat.say("/fund paid all", "u_owner") == [
        "已确认付款：\n#5 张三 ¥50.00\n#6 李四 ¥30.00\n#7 王五 ¥20.00"]
    assert await fund_lines(chat, "奖励池", "累计收入", "1.", "2.", "3.") == [
        "奖励池：¥5,100.00 可分配（另有待付奖励 ¥0.00）",
        "累计收入 ¥5,200.00：入群费 ¥0.00 · 运营费 ¥0.00 · 捐赠 ¥5,200.00；已付出奖励 ¥100.00",
        "1. 张三 ¥50.00（已付）", "2. 李四 ¥30.00（已付）", "3. 王五 ¥20.00（已付）"]
    assert await chat.say("/基金 已付 全部", "u_owner") == [to('u_owner', "任何人 没有待付的奖励。")]


async def test_paid_when_nothing_is_owed(chat):
    assert await chat.say("/fund paid all", "u_owner") == [to('u_owner', "任何人 没有待付的奖励。")]
    assert await chat.say("/fund paid @李四", "u_owner", mentions=["u2"]) == [to('u_owner', "李四 没有待付的奖励。")]
    assert await chat.say("/fund paid", "u_owner") == [to('u_owner', "用法：/基金 已付 @成员 [金额]，或 /基金 已付 全部")]


async def test_paid_is_for_treasurers(chat):
    await paid_week(chat)
    assert await chat.say("/fund paid @张三", "u1", mentions=["u1"]) == [to('u1', "这个命令需要「财务」权限。")]
    assert await fund_lines(chat, "1.") == ["1. 张三 ¥50.00（待付）"]


async def test_a_redelivered_payment_confirmation_records_once(chat):
    await paid_week(chat)
    assert await chat.say("/fund paid @张三 10", "u_owner", mentions=["u1"], id="m9") == [
        "已确认付款：\n#5 张三 ¥10.00"]
    assert await chat.say("/fund paid @张三 10", "u_owner", mentions=["u1"], id="m9") == []
    assert await fund_lines(chat, "奖励池") == ["奖励池：¥5,100.00 可分配（另有待付奖励 ¥90.00）"]


# ---- undoing rewards and income that were paid out -----------------------------------------------------------

async def test_undo_of_a_reward_not_yet_paid_returns_it_to_the_pool(chat):
    await paid_week(chat)                                       # #2 张三 ¥50.00
    assert await chat.say("/fund undo 2", "u_owner") == ["已冲销 #2（周奖励 ¥50.00），冲销记录为 #5。"]
    assert await fund_lines(chat, "奖励池", "1.", "2.", "3.") == [
        "奖励池：¥5,150.00 可分配（另有待付奖励 ¥50.00）", "2. 李四 ¥30.00（待付）", "3. 王五 ¥20.00（待付）"]
    assert await chat.say("/fund paid @张三", "u_owner", mentions=["u1"]) == [to('u_owner', "张三 没有待付的奖励。")]


async def test_undo_of_money_already_paid_out_is_refused(chat):
    await paid_week(chat)
    await chat.say("/fund paid @张三", "u_owner", mentions=["u1"])
    assert await chat.say("/fund undo 2", "u_owner") == [
        "@老王 不能撤销 #2（¥50.00）：待付奖励只剩 ¥0.00，这笔钱已经用掉了。"]
    assert await chat.say("/fund undo 1", "u_owner") == [          # the donation: ¥100 of it left the pool
        "@老王 不能撤销 #1（¥5,200.00）：奖励池只剩 ¥5,100.00，这笔钱已经用掉了。"]
    assert await fund_lines(chat, "奖励池", "1.") == ["奖励池：¥5,100.00 可分配（另有待付奖励 ¥50.00）",
                                                     "1. 张三 ¥50.00（已付）"]
    assert not any("冲销" in line for line in (await chat.say("/fund log", "u1"))[0].split("\n"))


async def test_undo_of_a_payment_confirmation_makes_the_reward_owed_again(chat):
    await paid_week(chat)
    await chat.say("/fund paid @张三", "u_owner", mentions=["u1"])            # #5
    assert await chat.say("/fund undo 5 付错人了", "u_owner") == ["已冲销 #5（奖励已付 ¥50.00），冲销记录为 #6。"]
    assert await fund_lines(chat, "奖励池", "累计收入", "1.") == [
        "奖励池：¥5,100.00 可分配（另有待付奖励 ¥100.00）",
        "累计收入 ¥5,200.00：入群费 ¥0.00 · 运营费 ¥0.00 · 捐赠 ¥5,200.00；已付出奖励 ¥0.00",
        "1. 张三 ¥50.00（待付）"]


# ---- once per week, across restarts --------------------------------------------------------------------------

async def test_a_restart_between_the_payout_and_the_ranking_post_pays_once_and_posts_once(chat):
    await paid_week(chat)
    await chat.tick(sh("2026-11-30T03:00:00"))
    await restart(chat, sh("2026-11-30T10:00:00"))           # down from 03:00 to 10:00: the 09:00 post was missed
    await restart(chat, sh("2026-11-30T10:05:00"))
    await chat.tick(sh("2026-12-01T12:00:00"))
    assert await rewards(chat) == ["周奖励 ¥50.00 · 张三", "周奖励 ¥30.00 · 李四", "周奖励 ¥20.00 · 王五"]
    [post] = ranking_posts(chat)
    assert post["at"] == "2026-11-30T10:00:00+08:00"           # caught up on coming back
    assert "1. @张三 45 分（打赏 5 · 最佳 1 · 帮助 1 人），奖励 ¥50.00" in post["text"]
    assert await payout_runs(chat) == [(WEEK1_PAID, "done")]


async def test_down_over_midnight_catches_up_the_payout_before_the_post(chat):
    await fund_pool(chat)
    await score_week(chat)
    await chat.tick(sh("2026-11-29T23:00:00"))
    await restart(chat, sh("2026-11-30T08:00:00"))
    assert await rewards(chat) == ["周奖励 ¥50.00 · 张三", "周奖励 ¥30.00 · 李四", "周奖励 ¥20.00 · 王五"]
    assert ranking_posts(chat) == []
    await chat.tick(sh("2026-11-30T09:30:00"))
    [post] = ranking_posts(chat)
    assert post["at"] == "2026-11-30T09:00:00+08:00"
    assert post["mentions"] == ["u1", "u2", "u3"]
    assert len(await rewards(chat)) == 3


async def test_down_across_two_week_boundaries_runs_each_payout_once_and_posts_once(chat):
    await fund_pool(chat)
    await score_week(chat)
    await chat.tick(sh("2026-11-29T22:00:00"))
    await restart(chat, sh("2026-12-07T05:00:00"))           # missed: payouts 11.30 and 12.7, the post of 11.30
    await restart(chat, sh("2026-12-07T05:10:00"))
    await chat.tick(sh("2026-12-08T12:00:00"))
    # the first week is paid at its own rate (52 weeks left on 11.30, not the 51 left on coming back)
    first, second, third = split(weekly_pool(POOL, 52))
    assert await rewards(chat) == [f"周奖励 {yuan(first)} · 张三", f"周奖励 {yuan(second)} · 李四",
                                   f"周奖励 {yuan(third)} · 王五"]
    assert await payout_runs(chat) == [(WEEK1_PAID, "done"), (sh("2026-12-07T00:00:00"), "done")]
    [post] = ranking_posts(chat)                              # the second week nobody scored: no post for it
    assert post["at"] == "2026-12-07T05:00:00+08:00"
    assert post["text"].startswith("🏆 11.23–11.29 的分享排行（迟发）：\n1. @张三 45 分")     # named by its dates


async def test_down_past_two_ranking_posts_pays_every_week_and_posts_only_the_latest_week(chat):
    await fund_pool(chat)
    await score_week(chat)
    await chat.tick(sh("2026-11-29T22:00:00"))
    await restart(chat, sh("2026-12-08T10:00:00"))
    await restart(chat, sh("2026-12-08T10:05:00"))
    first, second, third = split(weekly_pool(POOL, 52))       # not POOL // 50, the weeks left on 12.8
    assert await rewards(chat) == [f"周奖励 {yuan(first)} · 张三", f"周奖励 {yuan(second)} · 李四",
                                   f"周奖励 {yuan(third)} · 王五"]
    assert await payout_runs(chat) == [(WEEK1_PAID, "done"), (sh("2026-12-07T00:00:00"), "done")]
    # Announcements are caught up for the latest missed period only (DESIGN §6): 11.30–12.6, when nobody scored.
    assert ranking_posts(chat) == []
    paid = first + second + third
    assert await fund_lines(chat, "奖励池", "本周奖池") == [
        f"奖励池：{yuan(POOL - paid)} 可分配（另有待付奖励 {yuan(paid)}）",
        f"本周奖池：{yuan(weekly_pool(POOL - paid, 50))} = {yuan(POOL - paid)} ÷ 剩余 50 周（至 2027.11.22）"]


async def test_weeks_with_activity_on_both_sides_of_a_downtime_are_each_paid_once(chat):
    await fund_pool(chat)
    await tips(chat, ("u3", "u1", 10))
    await chat.tick(sh("2026-12-01T10:00:00"))                # week 1 paid while running
    await tips(chat, ("u3", "u2", 10))
    await chat.tick(sh("2026-12-06T22:00:00"))
    await restart(chat, sh("2026-12-15T10:00:00"))            # down over 12.7 and 12.14
    week1 = split(weekly_pool(POOL, 52))[0]
    week2 = split(weekly_pool(POOL - week1, 51))[0]           # the rate of 12.7, not of 12.15 (50 weeks)
    assert (week1, week2) == (50_00, 50_49)
    assert await rewards(chat) == [f"周奖励 {yuan(week1)} · 张三", f"周奖励 {yuan(week2)} · 李四"]
    assert [p for p, _ in await payout_runs(chat)] == [sh(f"2026-{d}T00:00:00") for d in ("11-30", "12-07", "12-14")]


async def test_a_tie_across_the_last_rewarded_place_shares_that_places_amount(make_chat):
    c = await make_chat(members=("u_owner", "u1", "u2", "u3", "u4"))
    await fund_pool(c)
    await tips(c, ("u4", "u1", 20), ("u4", "u2", 15), ("u1", "u3", 10), ("u1", "u4", 10))
    await c.tick(WEEK1_PAID)
    first, second, third = split(weekly_pool(POOL, 52))
    assert await rewards(c) == [f"周奖励 {yuan(first)} · 张三", f"周奖励 {yuan(second)} · 李四",
                                f"周奖励 {yuan(third // 2)} · 王五", f"周奖励 {yuan(third // 2)} · 赵六"]
