"""Newcomers: one welcome per burst of joins, and the weekly new-members post."""
from datetime import datetime, timedelta

from tests.conftest import START

RULES = ("群规（随时发送 /群规 查看）：\n1. 先发 /登记 填写资料，方便大家认识你\n2. 群昵称按「城市-行业-昵称」修改\n"
         "3. 不发广告、不刷屏，提问请写清背景\n发送 /登记 填写资料（只发 /登记 可逐项填写），发送 /帮助 查看全部命令。\n"
         "本群的聊天记录会保存 180 天，用于周报摘要；发送 /资料 删除 可删除你的全部个人数据，聊天记录也一起删除。")
JOIN_AT = START + timedelta(minutes=5)                                   # Monday 09:05
NEXT_MONDAY_10 = datetime.fromisoformat("2026-11-30T10:00:00+08:00")


def at(row) -> datetime:
    return datetime.fromisoformat(row["at"])


def welcomes(chat) -> list[tuple[datetime, list[str]]]:
    """When each welcome went out and whom it named."""
    return [(at(r), r["mentions"]) for r in chat.sent if r.get("text", "").startswith("欢迎")]


async def test_a_lone_join_is_welcomed_after_a_short_quiet(chat):
    await chat.join("u4", at=JOIN_AT)
    [row] = await chat.flush()
    assert row["room"] == "r1" and row["mentions"] == ["u4"]
    assert row["text"] == f"欢迎 @赵六 加入「增长学习社」！\n{RULES}"
    assert at(row) == JOIN_AT + timedelta(seconds=5)


async def test_nothing_is_sent_during_the_quiet(chat):
    await chat.join("u4", at=JOIN_AT)
    assert await chat.say("大家好", "u1", at=JOIN_AT + timedelta(seconds=4), drain=False) == []
    assert chat.sent == []


async def test_welcome_uses_the_configured_rules(make_chat):
    c = await make_chat(rules=["每周五晚答疑", "禁止广告"])
    await c.join("u4")
    [row] = await c.flush()
    assert "群规（随时发送 /群规 查看）：\n1. 每周五晚答疑\n2. 禁止广告\n发送 /登记 填写资料" in row["text"]


async def test_joins_that_come_together_share_one_welcome_after_the_last(chat):
    await chat.join("u4", at=JOIN_AT)
    await chat.join("u_mod", at=JOIN_AT + timedelta(seconds=3))
    rows = await chat.flush()
    assert len(rows) == 1
    assert rows[0]["text"].startswith("欢迎 @赵六 @小版 加入「增长学习社」！\n")
    assert rows[0]["mentions"] == ["u4", "u_mod"]
    assert at(rows[0]) == JOIN_AT + timedelta(seconds=8)             # 5 s after the second join


async def test_the_quiet_is_configurable(make_chat):
    c = await make_chat(top_welcome_quiet_seconds=20)
    await c.join("u4", at=JOIN_AT)
    await c.join("u_mod", at=JOIN_AT + timedelta(seconds=15))
    assert welcomes(c) == []
    await c.flush()
    assert welcomes(c) == [(JOIN_AT + timedelta(seconds=35), ["u4", "u_mod"])]


async def test_a_steady_trickle_is_welcomed_a_window_after_its_first_join(chat):
    """Joins every 4 s never leave 5 s of quiet: the welcome goes out 60 s after the first join with everyone
    who joined until then; whoever joins after it went out starts the next welcome."""
    users = [f"n{i}" for i in range(18)]
    for i, user in enumerate(users):                                    # 0 s, 4 s, ... 68 s
        await chat.join(user, name=f"新人{i}", at=JOIN_AT + timedelta(seconds=4 * i))
    await chat.flush()
    assert welcomes(chat) == [
        (JOIN_AT + timedelta(seconds=60), users[:15]),                    # joined at 0 s .. 56 s
        (JOIN_AT + timedelta(seconds=73), users[15:]),                    # 60 s, 64 s, 68 s: 5 s after the last
    ]


async def test_the_window_counts_from_the_first_join_even_if_that_newcomer_left(chat):
    users = [f"n{i}" for i in range(15)]
    for i, user in enumerate(users):                                    # 0 s, 4 s, ... 56 s
        await chat.join(user, name=f"新人{i}", at=JOIN_AT + timedelta(seconds=4 * i))
        if i == 1:
            await chat.leave("n0")
    await chat.join("u4", at=JOIN_AT + timedelta(seconds=62))
    await chat.flush()
    assert welcomes(chat) == [(JOIN_AT + timedelta(seconds=60), users[1:]),
                              (JOIN_AT + timedelta(seconds=67), ["u4"])]


async def test_a_join_after_the_welcome_went_out_starts_a_new_one(chat):
    await chat.join("u4", at=JOIN_AT)
    await chat.join("u_mod", at=JOIN_AT + timedelta(seconds=10))
    await chat.flush()
    assert [(r["mentions"], r["text"].split("\n")[0]) for r in chat.sent] == [
        (["u4"], "欢迎 @赵六 加入「增长学习社」！"),
        (["u_mod"], "欢迎 @小版 加入「增长学习社」！"),
    ]
    assert welcomes(chat) == [(JOIN_AT + timedelta(seconds=5), ["u4"]), (JOIN_AT + timedelta(seconds=15), ["u_mod"])]


async def test_rejoining_before_the_welcome_is_welcomed_once(chat):
    await chat.join("u4", at=JOIN_AT)
    await chat.leave("u4")
    await chat.join("u4", at=JOIN_AT + timedelta(seconds=20))
    [row] = await chat.flush()
    assert row["mentions"] == ["u4"] and row["text"].startswith("欢迎 @赵六 加入")


async def test_a_burst_of_joins_is_welcomed_twenty_at_a_time(chat):
    for i in range(25):
        await chat.join(f"n{i}", name=f"新人{i}", at=JOIN_AT + timedelta(seconds=i))
    await chat.flush()
    rows = [r for r in chat.sent if r["text"].startswith("欢迎")]
    assert [len(r["mentions"]) for r in rows] == [20, 5]
    assert rows[1]["text"].startswith("欢迎 @新人20 @新人21 @新人22 @新人23 @新人24 加入")
    # the first is full, not quiet: it goes 5 s after its last name; the second 5 s after the last join
    assert [at(r) for r in rows] == [JOIN_AT + timedelta(seconds=24), JOIN_AT + timedelta(seconds=29)]


async def test_a_welcome_split_in_parts_is_not_rewritten(make_chat):
    """With a tiny message size the welcome is stored in parts; a second join gets its own welcome."""
    c = await make_chat(top_pacing={"max_chars": 100, "min_interval_seconds": 0})
    await c.join("u4", at=JOIN_AT)
    await c.join("u_mod", at=JOIN_AT + timedelta(seconds=3))
    rows = await c.flush()
    text = "\n".join(r["text"] for r in rows)
    assert text.count("1. 先发 /登记 填写资料") == 2          # each welcome complete, none doubled or cut
    assert [r["mentions"] for r in rows if r["mentions"]] == [["u4"], ["u_mod"]]


async def test_a_join_in_a_room_that_is_not_served_gets_nothing(chat):
    await chat.join("u4", room="r2")
    assert await chat.flush() == []
    assert await chat.tick(NEXT_MONDAY_10) == []


# ---- the weekly new-members post ------------------------------------------------------------------------

async def test_weekly_post_lists_last_weeks_newcomers(chat):
    await chat.join("u4", at=JOIN_AT)
    await chat.join("u_mod", at=START + timedelta(days=2))                # Wednesday
    await chat.say("/signup 城市=北京; 职位=运营; 行业=教育; 擅长=增长; 诉求=找工作; 姓名=赵大; 公司=乙公司", "u4")
    await chat.say("/agree", "u4")
    await chat.flush()
    before = len(chat.sent)

    rows = await chat.tick(NEXT_MONDAY_10)
    assert len(rows) == 1 and len(chat.sent) == before + 1
    [post] = rows
    assert post["room"] == "r1"
    assert at(post) == NEXT_MONDAY_10
    assert post["mentions"] == ["u4", "u_mod"]
    assert post["text"] == (
        "上周新成员（11.23–11.29，共 2 位），欢迎认识一下：\n"
        "• @赵六 — 赵大 · 乙公司 · 北京 · 运营 · 教育；擅长 增长；诉求 找工作\n"
        "• @小版 — 还没登记，发送 /登记 让大家认识你\n"
        "想找某方面的人？发送 /找人 关键词。")


async def test_weekly_post_hides_name_and_company_at_the_threshold(make_chat):
    c = await make_chat(privacy_threshold=5)
    await c.join("u4", at=JOIN_AT)
    await c.say("/signup 城市=北京; 擅长=增长; 姓名=赵大; 公司=乙公司", "u4")
    await c.say("/agree", "u4")
    [post] = await c.tick(NEXT_MONDAY_10)
    assert "• @赵六 — 北京；擅长 增长\n" in post["text"]
    assert "赵大" not in post["text"] and "乙公司" not in post["text"]


async def test_weekly_post_is_posted_once(chat):
    await chat.join("u4", at=JOIN_AT)
    await chat.flush()
    assert len(await chat.tick(NEXT_MONDAY_10)) == 1
    assert await chat.tick(NEXT_MONDAY_10 + timedelta(hours=5)) == []
    await chat.driver.restart(NEXT_MONDAY_10 + timedelta(hours=6))
    assert await chat.flush() == []
    assert await chat.tick(NEXT_MONDAY_10 + timedelta(days=7)) == []     # nobody joined in the second week


async def test_a_week_without_newcomers_posts_nothing(chat):
    await chat.say("/signup 城市=北京", "u1")
    await chat.say("/agree", "u1")
    assert await chat.tick(NEXT_MONDAY_10 + timedelta(hours=1)) == []


async def test_a_newcomer_who_left_is_not_listed(chat):
    await chat.join("u4", at=JOIN_AT)
    await chat.join("u_mod", at=JOIN_AT + timedelta(hours=1))
    await chat.flush()
    await chat.leave("u4")
    [post] = await chat.tick(NEXT_MONDAY_10)
    assert post["mentions"] == ["u_mod"]
    assert "共 1 位" in post["text"] and "赵六" not in post["text"]


async def test_only_newcomers_who_all_left_means_no_post(chat):
    await chat.join("u4", at=JOIN_AT)
    await chat.flush()
    await chat.leave("u4")
    assert await chat.tick(NEXT_MONDAY_10) == []


async def test_newcomers_of_this_week_wait_for_next_weeks_post(chat):
    await chat.join("u4", at=JOIN_AT)
    await chat.flush()
    [post] = await chat.tick(NEXT_MONDAY_10)
    await chat.join("u_mod", at=NEXT_MONDAY_10 + timedelta(minutes=30))
    await chat.flush()
    assert "小版" not in post["text"]
    [post] = await chat.tick(NEXT_MONDAY_10 + timedelta(days=7))
    assert post["mentions"] == ["u_mod"] and "（11.30–12.06，共 1 位）" in post["text"]


async def test_a_join_merged_just_before_the_send_is_in_the_message_sent(chat, monkeypatch):
    """The sender picks the waiting welcome; a join merges into it before the claim: the new text goes out."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.adapters.base import JoinEvent
    from models import OutboxMessage

    await chat.join("u4", at=JOIN_AT)
    await chat.driver.advance_to(JOIN_AT + timedelta(seconds=4))
    real_scalar = AsyncSession.scalar
    joined = []

    async def scalar(self, statement, *args, **kwargs):
        row = await real_scalar(self, statement, *args, **kwargs)
        if not joined and isinstance(row, OutboxMessage) and row.purpose == "welcome":
            joined.append(True)
            await chat.driver.handle(JoinEvent("late-join", "r1", "u_mod", "小版", chat.clock.now(), None))
        return row

    monkeypatch.setattr(AsyncSession, "scalar", scalar)
    rows = await chat.tick(JOIN_AT + timedelta(minutes=5))
    assert joined
    assert [(r["mentions"], r["text"].split("\n")[0]) for r in rows] == [
        (["u4", "u_mod"], "欢迎 @赵六 @小版 加入「增长学习社」！")]


async def test_someone_who_leaves_before_the_welcome_is_not_welcomed(chat):
    await chat.join("u4", at=JOIN_AT)
    await chat.join("u_mod", at=JOIN_AT + timedelta(seconds=3))
    await chat.driver.advance_to(JOIN_AT + timedelta(seconds=6))
    await chat.leave("u4")
    [row] = await chat.flush()
    assert row["mentions"] == ["u_mod"] and row["text"].startswith("欢迎 @小版 加入「增长学习社」！\n")
    assert "赵六" not in row["text"]
    assert at(row) == JOIN_AT + timedelta(seconds=8)           # a leave does not hold the welcome back


async def test_a_welcome_left_to_nobody_is_dropped(chat):
    await chat.join("u4", at=JOIN_AT)
    await chat.leave("u4")
    assert await chat.flush() == []
    await chat.join("u4", at=JOIN_AT + timedelta(seconds=30))   # back again: welcomed once, after a new quiet
    [row] = await chat.flush()
    assert row["mentions"] == ["u4"] and at(row) == JOIN_AT + timedelta(seconds=35)


async def test_a_long_welcome_in_parts_is_withdrawn_whole(make_chat):
    c = await make_chat(top_pacing={"max_chars": 100}, rules=["规则" * 30, "第二条" * 20])
    await c.join("u4", at=JOIN_AT)
    await c.leave("u4")
    assert await c.flush() == []


async def test_a_weekly_post_caught_up_in_the_same_week_still_says_last_week(chat):
    await chat.join("u4", at=JOIN_AT)
    await chat.flush()
    await chat.tick(NEXT_MONDAY_10 - timedelta(hours=1))
    await chat.driver.restart(NEXT_MONDAY_10 + timedelta(days=6))        # back on Sunday
    await chat.flush()
    [post] = [r for r in chat.sent if "新成员" in r["text"]]
    assert post["text"].startswith("上周新成员（11.23–11.29，共 1 位）")


async def test_a_weekly_post_caught_up_late_names_its_week(chat):
    await chat.join("u4", at=JOIN_AT)
    await chat.flush()
    await chat.tick(NEXT_MONDAY_10 - timedelta(hours=1))
    await chat.driver.restart(NEXT_MONDAY_10 + timedelta(days=6, hours=23))   # back the Monday after, at 09:00
    await chat.flush()
    [post] = [r for r in chat.sent if "新成员" in r["text"]]
    assert post["text"].startswith("11.23–11.29 的新成员（共 1 位，迟发），欢迎认识一下：\n• @赵六")


async def test_someone_the_member_list_no_longer_has_is_taken_out_of_the_welcome(chat):
    """On WeChat a member who quits on their own causes no leave event; the next member list shows it."""
    await chat.join("u4", at=JOIN_AT)
    await chat.join("u_mod", at=JOIN_AT + timedelta(seconds=3))
    await chat.members("r1", ["u_owner", "u1", "u2", "u3", "u_mod"])
    [row] = await chat.flush()
    assert row["mentions"] == ["u_mod"] and row["text"].startswith("欢迎 @小版 加入")
