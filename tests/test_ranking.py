"""The weekly score and the ranking: /rank, /rank all, /rank @x explained, and Monday's ranking post with rewards."""
from tests.conftest import to
from tests.test_rewards import POOL, fund_pool, ranking_posts, score_week, split, tips, weekly_pool, yuan
from tests.test_scheduler import sh

FORMULA = "得分 = 收到打赏×1 + 最佳回答×30 + 帮助的成员×10 + 入选周报的回答×20；不计发言条数。/排行 @成员 看明细"
EMPTY = "还没有人得分。回答问题、被打赏、被选为最佳回答都会得分。"
POSTED = sh("2026-11-30T09:30:00")


# ---- /rank ---------------------------------------------------------------------------------------------------

async def test_rank_lists_this_weeks_scores_line_by_line(chat):
    await score_week(chat)                           # 老王 received 50 points, but owners are not ranked
    assert await chat.say("/rank", "u1") == [
        "本周排行（11.23–11.29，截至现在）：\n"
        "1. 张三 45 分（打赏 5 · 最佳 1 · 帮助 1 人）\n"
        "2. 李四 30 分（打赏 20 · 最佳 0 · 帮助 1 人）\n"
        "3. 王五 7 分（打赏 7 · 最佳 0 · 帮助 0 人）\n"
        + FORMULA]
    assert (await chat.say("/排行", "u2"))[0].startswith("本周排行（11.23–11.29，截至现在）：\n1. 张三 45 分")


async def test_rank_before_anyone_scored(chat):
    assert await chat.say("/rank", "u1") == [to('u1', EMPTY)]
    assert await chat.say("/rank all", "u1") == [to('u1', EMPTY)]


async def test_rank_with_an_unknown_word_gets_the_usage(chat):
    assert await chat.say("/rank 上周", "u1") == [to('u1', "用法：/排行；/排行 全部；/排行 @成员")]


async def test_equal_totals_share_a_place(chat):
    await tips(chat, ("u3", "u2", 10), ("u3", "u1", 10), ("u1", "u3", 4))
    assert await chat.say("/rank", "u1") == [
        "本周排行（11.23–11.29，截至现在）：\n"
        "1. 张三 10 分（打赏 10 · 最佳 0 · 帮助 0 人）\n"
        "1. 李四 10 分（打赏 10 · 最佳 0 · 帮助 0 人）\n"
        "3. 王五 4 分（打赏 4 · 最佳 0 · 帮助 0 人）\n"
        + FORMULA]


async def test_rank_explains_one_members_score_line_by_line(chat):
    await score_week(chat)                               # 张三: A1 to 王五's Q1 is the best answer, 5 points
    await chat.say("/ask 第二个问题", "u2")
    await chat.say("/answer Q2 我的回答", "u1")            # helps 李四
    await chat.say("/answer Q1 再补充一点", "u1")          # 王五 again: members helped are counted once
    await chat.say("/ask 我自己的问题", "u1")
    await chat.say("/answer Q3 自问自答", "u1")            # answering oneself helps nobody
    assert await chat.say("/rank @张三", "u2", mentions=["u1"]) == [
        "张三 本周得分 55（第 1 名）：\n"
        "· 收到打赏 5 分 × 1 = 5\n"
        "· 最佳回答 1 个 × 30 = 30\n"
        "· 帮助的成员 2 位 × 10 = 20\n"
        "· 入选周报的回答 0 条 × 20 = 0\n"
        "上周：0 分（暂无名次）\n"
        "总榜：累计 55 分（第 1 名）"]


async def test_rank_explains_a_member_without_points(chat):
    await tips(chat, ("u3", "u1", 10))
    assert await chat.say("/rank @李四", "u1", mentions=["u2"]) == [
        "李四 本周（11.23–11.29）和上周都还没有得分。回答问题、被打赏、被选为最佳回答都会得分。\n"
        "总榜：累计 0 分（暂无名次）"]


async def test_rank_explains_last_week_while_this_week_is_empty(chat):
    await score_week(chat)
    await chat.tick(sh("2026-11-30T10:00:00"))           # Monday: the new week has nothing yet
    assert await chat.say("/排行 @李四", "u1", mentions=["u2"]) == [
        "李四 上周（11.23–11.29）得分 30（第 2 名）：\n"
        "· 收到打赏 20 分 × 1 = 20\n"
        "· 最佳回答 0 个 × 30 = 0\n"
        "· 帮助的成员 1 位 × 10 = 10\n"
        "· 入选周报的回答 0 条 × 20 = 0\n"
        "本周（11.30–12.6）还没有得分。\n"
        "总榜：累计 30 分（第 2 名）"]
    await tips(chat, ("u1", "u2", 3))                     # once this week counts, it is this week's explained
    assert await chat.say("/排行 @李四", "u1", mentions=["u2"]) == [
        "李四 本周得分 3（第 1 名）：\n"
        "· 收到打赏 3 分 × 1 = 3\n"
        "· 最佳回答 0 个 × 30 = 0\n"
        "· 帮助的成员 0 位 × 10 = 0\n"
        "· 入选周报的回答 0 条 × 20 = 0\n"
        "上周：30 分（第 2 名）\n"
        "总榜：累计 33 分（第 2 名）"]


async def test_rank_explains_a_member_whose_points_are_older_than_last_week(chat):
    await score_week(chat)
    await chat.tick(sh("2026-12-07T10:00:00"))
    assert await chat.say("/rank @李四", "u1", mentions=["u2"]) == [
        "李四 本周（12.7–12.13）和上周都还没有得分。回答问题、被打赏、被选为最佳回答都会得分。\n"
        "总榜：累计 30 分（第 2 名）"]


async def test_owners_are_not_ranked(chat):
    await tips(chat, ("u1", "u_owner", 50))
    assert await chat.say("/rank", "u1") == [to('u1', EMPTY)]
    assert await chat.say("/rank @老王", "u1", mentions=["u_owner"]) == [
        "@张三 老王 不参加排行（群主管理基金，不领奖励；已注销的成员也不参加）。"]


async def test_a_new_week_starts_from_zero_and_rank_all_adds_the_weeks_up(chat):
    await score_week(chat)
    await chat.tick(sh("2026-11-30T10:00:00"))
    assert await chat.say("/rank", "u1") == [to('u1', EMPTY)]
    await tips(chat, ("u1", "u2", 3))
    assert await chat.say("/rank", "u1") == [
        "本周排行（11.30–12.6，截至现在）：\n1. 李四 3 分（打赏 3 · 最佳 0 · 帮助 0 人）\n" + FORMULA]
    assert await chat.say("/rank all", "u1") == [
        "总榜（自 2026.11.23 起）：\n"
        "1. 张三 45 分（打赏 5 · 最佳 1 · 帮助 1 人）\n"
        "2. 李四 33 分（打赏 23 · 最佳 0 · 帮助 1 人）\n"
        "3. 王五 7 分（打赏 7 · 最佳 0 · 帮助 0 人）\n"
        + FORMULA]
    assert await chat.say("/rank @李四", "u3", mentions=["u2"]) == [
        "李四 本周得分 3（第 1 名）：\n"
        "· 收到打赏 3 分 × 1 = 3\n"
        "· 最佳回答 0 个 × 30 = 0\n"
        "· 帮助的成员 0 位 × 10 = 0\n"
        "· 入选周报的回答 0 条 × 20 = 0\n"
        "上周：30 分（第 2 名）\n"
        "总榜：累计 33 分（第 2 名）"]


async def test_hidden_answers_do_not_count(chat):
    await score_week(chat)
    assert await chat.say("/hide A1", "u_owner") == ["A1 已隐藏，不再出现在列表、问答议程和排行里。"]
    assert (await chat.say("/rank", "u1"))[0].split("\n")[1:4] == [
        "1. 李四 30 分（打赏 20 · 最佳 0 · 帮助 1 人）",
        "2. 王五 7 分（打赏 7 · 最佳 0 · 帮助 0 人）",
        "3. 张三 5 分（打赏 5 · 最佳 0 · 帮助 0 人）"]


# ---- Monday's ranking post -----------------------------------------------------------------------------------

async def test_monday_post_lists_scores_and_rewards_and_mentions_the_winners(chat):
    await fund_pool(chat)
    await score_week(chat)
    await chat.tick(sh("2026-11-30T08:59:00"))
    assert ranking_posts(chat) == []
    await chat.tick(POSTED)
    first, second, third = split(weekly_pool(POOL, 52))
    assert ranking_posts(chat) == [{
        "at": "2026-11-30T09:00:00+08:00", "type": "say", "room": "r1", "mentions": ["u1", "u2", "u3"],
        "text": "🏆 上周分享排行（11.23–11.29）：\n"
                f"1. @张三 45 分（打赏 5 · 最佳 1 · 帮助 1 人），奖励 {yuan(first)}\n"
                f"2. @李四 30 分（打赏 20 · 最佳 0 · 帮助 1 人），奖励 {yuan(second)}\n"
                f"3. @王五 7 分（打赏 7 · 最佳 0 · 帮助 0 人），奖励 {yuan(third)}\n"
                f"这一周的奖池共发出 {yuan(first + second + third)}，前 3 名按 50%/30%/20% 分配；同分平分所占名次的奖金，"
                "不足一分的零头和无人领取的份额留在奖励池。奖励由群主线下发放，/基金 查看公开账本。\n"
                + FORMULA}]
    await chat.tick(sh("2026-12-01T12:00:00"))
    assert len(ranking_posts(chat)) == 1


async def test_only_rewarded_members_are_mentioned(make_chat):
    c = await make_chat(members=("u_owner", "u1", "u2", "u3", "u4"), fund={"top_n": 2, "split": [60, 40]})
    await fund_pool(c)
    await tips(c, ("u3", "u1", 10), ("u3", "u2", 10), ("u1", "u4", 3))
    await c.tick(POSTED)
    shared = sum(split(weekly_pool(POOL, 52), (60, 40))) // 2
    [post] = ranking_posts(c)
    assert post["mentions"] == ["u1", "u2"]
    assert post["text"].split("\n")[1:5] == [
        f"1. @张三 10 分（打赏 10 · 最佳 0 · 帮助 0 人），奖励 {yuan(shared)}",
        f"1. @李四 10 分（打赏 10 · 最佳 0 · 帮助 0 人），奖励 {yuan(shared)}",
        "3. 赵六 3 分（打赏 3 · 最佳 0 · 帮助 0 人）",
        f"这一周的奖池共发出 {yuan(2 * shared)}，前 2 名按 60%/40% 分配；同分平分所占名次的奖金，不足一分的零头和无人领取的份额留在奖励池。"
        "奖励由群主线下发放，/基金 查看公开账本。"]


async def test_a_week_with_an_empty_pool_posts_the_ranking_without_rewards(chat):
    await score_week(chat)
    await chat.tick(POSTED)
    assert ranking_posts(chat) == [{
        "at": "2026-11-30T09:00:00+08:00", "type": "say", "room": "r1", "mentions": [],
        "text": "🏆 上周分享排行（11.23–11.29）：\n"
                "1. 张三 45 分（打赏 5 · 最佳 1 · 帮助 1 人）\n"
                "2. 李四 30 分（打赏 20 · 最佳 0 · 帮助 1 人）\n"
                "3. 王五 7 分（打赏 7 · 最佳 0 · 帮助 0 人）\n"
                + FORMULA}]


async def test_a_week_nobody_scored_posts_nothing(chat):
    await fund_pool(chat)
    await tips(chat, ("u1", "u_owner", 20))
    await chat.tick(POSTED)
    assert ranking_posts(chat) == []


async def test_the_post_shows_the_result_as_it_was_paid(chat):
    await fund_pool(chat)
    await score_week(chat)
    await chat.tick(sh("2026-11-30T08:00:00"))               # paid at midnight: 张三 first with 45
    first, second, third = split(weekly_pool(POOL, 52))
    assert await chat.say("/hide A1", "u_owner") == [
        "A1 已隐藏，不再出现在列表、问答议程和排行里。\n"
        "A1 计入了已经发放的周奖励，这些奖励保留（之后的排行和总榜不再计入）；群主可以用 /基金 撤销 编号 收回：\n"
        f"#2 11.23–11.29 张三 {yuan(first)}（待付）"]
    await chat.tick(POSTED)
    [post] = ranking_posts(chat)
    # the amounts paid and the places they were paid for go together
    assert post["text"].split("\n")[1:4] == [
        f"1. @张三 45 分（打赏 5 · 最佳 1 · 帮助 1 人），奖励 {yuan(first)}",
        f"2. @李四 30 分（打赏 20 · 最佳 0 · 帮助 1 人），奖励 {yuan(second)}",
        f"3. @王五 7 分（打赏 7 · 最佳 0 · 帮助 0 人），奖励 {yuan(third)}"]
