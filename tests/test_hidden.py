"""Hidden questions and answers: they do not score and are not paid, members cannot reach them by id, moderators
still can; a payout made before the hiding stands, while the all-time totals and later weeks leave the item out."""
import pytest
from sqlalchemy import select

from handlers import ranking
from models import JobRun, ScoreTotal
from tests.conftest import to
from tests.test_ranking import EMPTY, POSTED
from tests.test_rewards import fund_pool, ranking_posts, rewards, split, weekly_pool, yuan
from tests.test_scheduler import sh
from tests.test_tips import points

NOT_FOUND_A = "没有找到回答 {}。回答编号以 A 开头，发送 /问题 Q编号 可以看到。"
NOT_FOUND_Q = "没有找到问题 {}。发送 /问题列表 查看进行中的问题。"
WEEK2 = sh("2026-12-02T10:00:00")


@pytest.fixture
async def chat(make_chat):
    """王五 (u3) is a moderator, 老王 (u_owner) the owner; 赵六 (u4) is a member too."""
    return await make_chat(moderators=["u3"], members=("u_owner", "u1", "u2", "u3", "u4"))


async def spam_answer_tipped(chat) -> None:
    """The reviewer's case: ¥5,200 in the pool, 张三 asks Q1, 赵六 answers A1 with an ad, 张三 tips A1 90."""
    await fund_pool(chat)
    await chat.say("/提问 怎么做增长\n背景", "u1")
    assert await chat.say("/回答 Q1 广告：加我微信", "u4") != []
    assert (await chat.say("/打赏 A1 90", "u1"))[0].startswith("张三 打赏了 @赵六 90 分（A1）")


async def test_a_hidden_answer_is_neither_ranked_nor_paid(chat):
    await spam_answer_tipped(chat)
    assert await chat.say("/隐藏 A1", "u_owner") == ["A1 已隐藏，不再出现在列表、问答议程和排行里。"]
    assert await chat.say("/排行", "u2") == [to('u2', EMPTY)]
    await chat.tick(POSTED)                                    # Monday: the payout, then the ranking post
    assert await rewards(chat) == []
    assert ranking_posts(chat) == []
    assert await chat.say("/排行 全部", "u2") == [to('u2', EMPTY)]
    # The tip stays in the ledger: 赵六 still holds the points, and is told they do not count.
    assert await chat.say("/积分", "u4") == [
        "@赵六 " + points(100, 0, 90, reset="12.7（周一）00:00") + "\n其中 90 分打赏的是已隐藏的内容，不计入排行。"]


async def test_unhiding_restores_the_score_and_the_payout(chat):
    await spam_answer_tipped(chat)
    await chat.say("/隐藏 A1", "u_owner")
    assert await chat.say("/取消隐藏 A1", "u_owner") == ["A1 已恢复显示。"]
    await chat.tick(POSTED)
    first = split(weekly_pool(5_200_00, 52))[0]
    assert await rewards(chat) == [f"周奖励 {yuan(first)} · 赵六"]
    assert ranking_posts(chat)[0]["text"].split("\n")[1] == f"1. @赵六 100 分（打赏 90 · 最佳 0 · 帮助 1 人），奖励 {yuan(first)}"


async def test_a_hidden_question_takes_its_answers_out_of_the_ranking(chat):
    await chat.say("/提问 怎么做增长\n背景", "u1")
    await chat.say("/回答 Q1 先找种子用户", "u2")
    await chat.say("/打赏 A1 10", "u1")
    await chat.say("/最佳 Q1 A1", "u1")
    assert (await chat.say("/排行", "u4"))[0].split("\n")[1] == "1. 李四 50 分（打赏 10 · 最佳 1 · 帮助 1 人）"
    await chat.say("/隐藏 Q1", "u3")
    assert await chat.say("/排行", "u4") == [to('u4', EMPTY)]
    [explained] = await chat.say("/排行 @李四", "u4", mentions=["u2"])
    assert explained.startswith("李四 本周（11.23–11.29）和上周都还没有得分。")
    await chat.say("/取消隐藏 Q1", "u3")
    assert (await chat.say("/排行", "u4"))[0].split("\n")[1] == "1. 李四 50 分（打赏 10 · 最佳 1 · 帮助 1 人）"


async def test_members_cannot_reach_an_answer_of_a_hidden_question(chat):
    await chat.say("/提问 第一个问题\n背景", "u1")
    await chat.say("/提问 第二个问题\n背景", "u2")
    await chat.say("/提问 广告\n加我微信", "u4")
    await chat.say("/回答 Q1 一", "u2")
    await chat.say("/回答 Q2 二", "u1")
    await chat.say("/回答 Q3 好的", "u2")
    await chat.say("/回答 Q3 我也要", "u1")                                          # A4
    await chat.say("/隐藏 Q3", "u3")
    assert await chat.say("/打赏 A4 50", "u2") == [to('u2', NOT_FOUND_A.format("A4"))]
    assert await chat.say("/最佳 Q3 A4", "u4") == [to('u4', NOT_FOUND_Q.format("Q3"))]
    assert await chat.say("/修改 A4 改一下", "u1") == [to('u1', NOT_FOUND_A.format("A4"))]
    assert await chat.say("/积分", "u2") == [to("u2", points(100))]                       # nothing was spent
    # Moderators can still open it, see its answers marked, and bring it back.
    [shown] = await chat.say("@李四 /问题 Q3", "u3")
    assert shown.startswith("Q3「广告」— 赵六") and "［已隐藏］" in shown and "\nA4 张三：我也要" in shown
    assert await chat.say("/最佳 Q3 A4", "u3") == ["@王五 Q3 已隐藏，隐藏的内容不计分，不能选为最佳。需要的话先 /取消隐藏 Q3。"]
    await chat.say("/取消隐藏 Q3", "u3")
    assert (await chat.say("/打赏 A4 50", "u2"))[0].startswith("李四 打赏了 @张三 50 分（A4）")


async def test_hiding_after_the_payout_keeps_it_and_corrects_the_totals(chat):
    await spam_answer_tipped(chat)
    await chat.say("/提问 第二个问题\n背景", "u2")
    await chat.say("/回答 Q2 认真的回答", "u3")
    await chat.say("/打赏 A2 20", "u2")                    # 王五: 20 points + helped 李四
    await chat.tick(sh("2026-11-30T08:00:00"))             # week 1 paid: 赵六 first, 王五 second
    first, second, _ = split(weekly_pool(5_200_00, 52))
    assert await rewards(chat) == [f"周奖励 {yuan(first)} · 赵六", f"周奖励 {yuan(second)} · 王五"]
    [all_time] = await chat.say("/排行 全部", "u1")
    assert all_time.split("\n")[1:3] == ["1. 赵六 100 分（打赏 90 · 最佳 0 · 帮助 1 人）",
                                         "2. 王五 30 分（打赏 20 · 最佳 0 · 帮助 1 人）"]
    await chat.say("/打赏 A1 10", "u2", at=WEEK2)          # a tip in week 2 to the same answer

    assert await chat.say("/隐藏 A1", "u3") == [
        "A1 已隐藏，不再出现在列表、问答议程和排行里。\n"
        "A1 计入了已经发放的周奖励，这些奖励保留（之后的排行和总榜不再计入）；群主可以用 /基金 撤销 编号 收回：\n"
        f"#2 11.23–11.29 赵六 {yuan(first)}（待付）"]
    assert await rewards(chat) == [f"周奖励 {yuan(first)} · 赵六", f"周奖励 {yuan(second)} · 王五"]   # it stands
    [all_time] = await chat.say("/排行 全部", "u1")
    assert all_time.split("\n")[1:-1] == ["1. 王五 30 分（打赏 20 · 最佳 0 · 帮助 1 人）"]
    await chat.tick(sh("2026-12-07T08:00:00"))             # week 2: the tip to the hidden answer is not paid
    assert len(await rewards(chat)) == 2

    await chat.say("/取消隐藏 A1", "u3")                   # shown again: all of it counts again, nothing is paid twice
    [all_time] = await chat.say("/排行 全部", "u1")
    assert all_time.split("\n")[1:3] == ["1. 赵六 110 分（打赏 100 · 最佳 0 · 帮助 1 人）",
                                         "2. 王五 30 分（打赏 20 · 最佳 0 · 帮助 1 人）"]
    assert len(await rewards(chat)) == 2


async def totals_and_recount(chat) -> tuple[dict, dict]:
    """The stored all-time totals, and the same recounted from scratch over every paid week as things stand now
    (hidden items left out): they must always agree."""
    app = chat.app
    async with app.sessions() as db:
        ctx = await app.runtime.context(db, "growth", cause="check")
        left_out = await ranking.excluded(ctx)
        recount: dict[int, ranking.Score] = {}
        for end in await db.scalars(select(JobRun.period).where(JobRun.job == "pay_weekly_rewards",
                                                                JobRun.status == "done")):
            start, _ = ctx.last_completed_week(end)
            for member_id, lines in (await ranking.lines(ctx, start, end)).items():
                if member_id not in left_out:
                    recount[member_id] = recount.get(member_id, ranking.Score(member_id)).plus(lines)
        stored = {t.member_id: (t.points, t.best_answers, t.helped, t.digest_answers)
                  for t in await db.scalars(select(ScoreTotal))}
    as_tuples = {m: (s.points, s.best_answers, s.helped, s.digest_answers) for m, s in recount.items()}
    nonzero = lambda d: {m: v for m, v in d.items() if any(v)}    # noqa: E731
    return nonzero(stored), nonzero(as_tuples)


async def test_a_best_answer_changed_after_its_week_was_paid_moves_in_the_all_time_totals(chat):
    await chat.say("/提问 怎么做增长\n背景", "u1")
    await chat.say("/回答 Q1 广告", "u2")                     # A1
    await chat.say("/回答 Q1 认真的回答", "u4")               # A2
    await chat.say("/最佳 Q1 A1", "u1")
    await chat.tick(sh("2026-11-30T08:00:00"))                # week 1 paid with A1 best
    await chat.say("/最佳 Q1 A2", "u1", at=WEEK2)             # the asker changes their mind
    stored, recount = await totals_and_recount(chat)
    assert stored == recount
    await chat.say("/隐藏 A1", "u3")
    [all_time] = await chat.say("/排行 全部", "u1")
    assert not any("李四" in line and "最佳 1" in line for line in all_time.split("\n")), all_time
    stored, recount = await totals_and_recount(chat)
    assert stored == recount
    await chat.tick(sh("2026-12-07T08:00:00"))                # week 2 paid with A2 best
    await chat.say("/隐藏 Q1", "u3")
    stored, recount = await totals_and_recount(chat)
    assert stored == recount == {}
    await chat.say("/取消隐藏 Q1", "u3")
    await chat.say("/取消隐藏 A1", "u3")
    stored, recount = await totals_and_recount(chat)
    assert stored == recount and recount


async def test_all_time_totals_agree_with_a_recount_through_hides_unhides_and_undone_rewards(chat):
    await fund_pool(chat)
    await chat.say("/提问 怎么做增长\n背景", "u1")
    await chat.say("/回答 Q1 一", "u2")                       # A1
    await chat.say("/回答 Q1 二", "u4")                       # A2
    await chat.say("/打赏 A1 30", "u1")
    await chat.say("/最佳 Q1 A2", "u1")
    await chat.tick(sh("2026-11-30T08:00:00"))
    await chat.say("/打赏 A1 20", "u3", at=WEEK2)
    await chat.say("/提问 第二个\n背景", "u4")
    await chat.say("/回答 Q2 三", "u2")
    await chat.tick(sh("2026-12-07T08:00:00"))
    steps = [("/隐藏 A1", "u3"), ("/基金 撤销 2", "u_owner"), ("/隐藏 Q1", "u3"), ("/取消隐藏 A1", "u3"),
             ("/最佳 Q1 A1", "u1"), ("/取消隐藏 Q1", "u3"), ("/隐藏 Q2", "u3"), ("/最佳 Q1 A2", "u3")]
    for text, user in steps:
        await chat.say(text, user)
        stored, recount = await totals_and_recount(chat)
        assert stored == recount, text


async def test_hiding_a_question_lists_the_rewards_it_counted_in_by_place(chat):
    await spam_answer_tipped(chat)
    await chat.say("/回答 Q1 认真的回答", "u3")             # A2
    await chat.say("/打赏 A2 20", "u1")
    await chat.tick(sh("2026-11-30T08:00:00"))             # week 1 paid: 赵六 first, 王五 second
    first, second, _ = split(weekly_pool(5_200_00, 52))
    assert await chat.say("/隐藏 Q1", "u3") == [
        "Q1 已隐藏，不再出现在列表、问答议程和排行里。\n"
        "Q1 计入了已经发放的周奖励，这些奖励保留（之后的排行和总榜不再计入）；群主可以用 /基金 撤销 编号 收回：\n"
        f"#2 11.23–11.29 赵六 {yuan(first)}（待付）\n"
        f"#3 11.23–11.29 王五 {yuan(second)}（待付）"]
