"""The weekly Q&A session (the reminder the day before, the agenda at the start) and outsider challenges."""
import re
from datetime import timedelta

import pytest

from tests.conftest import sh, to

THIS_WEEK = "11.25（周三）20:00"
NEXT_WEEK = "12.2（周三）20:00"
FOOTER = "回答：/回答 Q编号 你的回答；好回答请 /打赏 A编号 分数。"
REMINDER_FOOTER = "详情：/问题 Q编号；提前回答：/回答 Q编号 内容。"
FORBIDDEN = "这个命令需要「版主」权限。"
NO_LEDGER = "账本里还没有记录。"


SESSION = sh("2026-11-25T20:00:00")        # the first Wednesday after START
REMINDER = sh("2026-11-24T20:00:00")


@pytest.fixture
async def chat(make_chat):
    """王五 (u3) is a moderator; 老王 (u_owner) is the owner."""
    return await make_chat(moderators=["u3"])


async def ask(chat, title: str, user: str = "u1", background: str | None = None) -> None:
    [reply] = await chat.say(f"/ask {title}\n{background or '背景说明'}", user)
    assert reply.startswith("已登记问题 Q"), reply


async def newcomer(chat, user: str = "u9", name: str = "小明") -> None:
    """Someone joins the group after the challenge opened; their welcome goes out."""
    await chat.join(user, name=name)
    await chat.flush()


def agenda_rows(rows) -> list[dict]:
    return [r for r in rows if r.get("text", "").startswith("📌")]


def announcements(rows) -> list[dict]:
    """Agendas and reminders."""
    return [r for r in rows if r.get("text", "").startswith(("📌", "⏰"))]


# ---- the agenda ------------------------------------------------------------------------------------------------

async def test_agenda_is_posted_when_the_session_starts(chat):
    await chat.say("/ask 如何做用户增长\n我们是教育 SaaS，试过投放，转化很低", "u1")
    await chat.say("/ask 怎么定价\n客单价 2000", "u2")
    assert agenda_rows(await chat.tick(SESSION - timedelta(minutes=1))) == []
    [post] = await chat.tick(SESSION + timedelta(minutes=1))
    assert post["room"] == "r1" and post["at"] == SESSION.isoformat()
    assert post["text"] == (
        f"📌 {THIS_WEEK} 问答开始了！本期 2 个问题：\n"
        "Q1「如何做用户增长」— 张三\n　背景：我们是教育 SaaS，试过投放，转化很低\n"
        "Q2「怎么定价」— 李四\n　背景：客单价 2000\n"
        f"{FOOTER}")


async def test_agenda_mentions_members_whose_profile_matches(chat):
    await chat.signup("u3", "职位=运营; 擅长=用户增长")
    await chat.signup("u2", "擅长=用户增长, 投放")                      # answers first: not suggested again
    await chat.signup("u1", "擅长=用户增长")                            # the asker: not suggested
    await chat.signup("u_owner", "擅长=定价")                          # another topic
    await ask(chat, "如何做用户增长", "u1")
    await chat.say("/answer Q1 投放", "u2")
    [post] = agenda_rows(await chat.tick(SESSION + timedelta(minutes=1)))
    assert "Q1「如何做用户增长」— 张三\n　背景：背景说明\n　可能了解的人：@王五\n" in post["text"]
    assert post["mentions"] == ["u3"]
    assert "@张三" not in post["text"] and "@李四" not in post["text"] and "@老王" not in post["text"]


async def test_agenda_mentions_nobody_without_matching_profiles(chat):
    await chat.signup("u3", "擅长=设计")
    await ask(chat, "如何做用户增长", "u1")
    [post] = agenda_rows(await chat.tick(SESSION + timedelta(minutes=1)))
    assert post["mentions"] == [] and "可能了解的人" not in post["text"]


async def test_agenda_leaves_out_closed_hidden_and_next_weeks_questions(chat):
    await ask(chat, "关掉的", "u1")
    await ask(chat, "隐藏的", "u2")
    await ask(chat, "本周的", "u2")
    await chat.say("/ask 下周的\n背景说明", "u3", at=sh("2026-11-24T21:00:00"))
    await chat.say("/close Q1", "u1")
    await chat.say("/hide Q2", "u3")
    [post] = agenda_rows(await chat.tick(SESSION + timedelta(minutes=1)))
    assert post["text"].startswith(f"📌 {THIS_WEEK} 问答开始了！本期 1 个问题：\nQ3「本周的」— 李四\n")
    assert "关掉的" not in post["text"] and "隐藏的" not in post["text"] and "下周的" not in post["text"]
    [post] = agenda_rows(await chat.tick(sh("2026-12-02T20:01:00")))
    assert post["text"].startswith(f"📌 {NEXT_WEEK} 问答开始了！本期 1 个问题：\nQ4「下周的」— 王五\n")


async def test_no_agenda_without_questions(chat):
    assert await chat.tick(SESSION + timedelta(hours=1)) == []


async def test_no_agenda_when_every_question_was_closed(chat):
    await ask(chat, "如何做用户增长", "u1")
    await chat.say("/close Q1", "u1")
    assert await chat.tick(SESSION + timedelta(hours=1)) == []


async def test_agenda_is_posted_once_across_a_restart(chat):
    await ask(chat, "如何做用户增长", "u1")
    assert len(agenda_rows(await chat.tick(SESSION + timedelta(minutes=1)))) == 1
    await chat.driver.restart(SESSION + timedelta(minutes=5))
    await chat.flush()
    await chat.tick(SESSION + timedelta(hours=2))
    assert len(agenda_rows(chat.sent)) == 1


async def test_agenda_missed_while_down_is_posted_on_coming_back(chat):
    await ask(chat, "如何做用户增长", "u1")
    await chat.tick(SESSION - timedelta(hours=1))
    await chat.driver.restart(SESSION + timedelta(minutes=30))
    await chat.flush()
    [post] = agenda_rows(chat.sent)
    assert "Q1「如何做用户增长」" in post["text"]
    await chat.tick(SESSION + timedelta(hours=3))
    assert len(agenda_rows(chat.sent)) == 1


async def test_an_agenda_missed_until_the_session_ended_is_not_posted(chat, caplog):
    await ask(chat, "如何做用户增长", "u1")
    await chat.tick(SESSION - timedelta(hours=1))
    with caplog.at_level("INFO", logger="qunbot.scheduler"):
        await chat.driver.restart(SESSION + timedelta(days=6))          # back the next Tuesday morning
    await chat.flush()
    assert agenda_rows(chat.sent) == []
    assert "post_qa_agenda for growth at 2026-11-25T20:00:00+08:00 is no longer true" in caplog.text
    await ask(chat, "之后的问题", "u2")                                   # past the cutoff for 12.2: on 12.9
    [post] = agenda_rows(await chat.tick(SESSION + timedelta(days=14, minutes=1)))    # on time
    assert post["text"].startswith("📌 12.9（周三）20:00 问答开始了！本期 1 个问题")


@pytest.mark.parametrize("back, posted", [(20, True), (45, False)])
async def test_an_agenda_is_caught_up_while_its_session_lasts(make_chat, back, posted):
    c = await make_chat(questions={"session_minutes": 30})
    await ask(c, "如何做用户增长", "u1")
    await c.tick(SESSION - timedelta(hours=1))
    await c.driver.restart(SESSION + timedelta(minutes=back))
    await c.flush()
    assert [r["at"] for r in agenda_rows(c.sent)] == ([(SESSION + timedelta(minutes=back)).isoformat()] if posted
                                                      else [])


# ---- the reminder ----------------------------------------------------------------------------------------------

async def test_reminder_the_day_before(chat):
    await ask(chat, "如何做用户增长", "u1")
    await ask(chat, "怎么定价", "u2")
    assert await chat.tick(REMINDER - timedelta(minutes=1)) == []
    [post] = await chat.tick(REMINDER + timedelta(minutes=1))
    assert post["room"] == "r1" and post["at"] == REMINDER.isoformat()
    assert post["text"] == (f"⏰ 明天 {THIS_WEEK} 问答，本期 2 个问题，欢迎提前准备：\n"
                            f"Q1「如何做用户增长」— 张三\nQ2「怎么定价」— 李四\n{REMINDER_FOOTER}")


@pytest.mark.parametrize("back, posted", [
    (REMINDER + timedelta(hours=2), [f"⏰ 明天 {THIS_WEEK} 问答，本期 1 个问题"]),        # the same evening
    (sh("2026-11-25T10:00:00"), [f"⏰ 今天 {THIS_WEEK} 问答，本期 1 个问题"]),           # the session's day
    (SESSION + timedelta(minutes=10), ["📌 "]),            # the session started: its agenda, no reminder
])
async def test_a_reminder_missed_while_down_says_what_is_still_true(chat, back, posted):
    await ask(chat, "如何做用户增长", "u1")
    await chat.tick(REMINDER - timedelta(hours=1))
    await chat.driver.restart(back)
    await chat.flush()
    rows = announcements(chat.sent)
    assert len(rows) == len(posted) and all(r["text"].startswith(p) for r, p in zip(rows, posted)), rows


async def test_no_reminder_without_questions(chat):
    await chat.say("/ask 下周的\n背景说明", "u3", at=sh("2026-11-24T21:00:00"))   # after the reminder, for next week
    assert await chat.tick(SESSION + timedelta(minutes=1)) == []


async def test_reminder_can_be_turned_off(make_chat):
    c = await make_chat(questions={"remind": False})
    await ask(c, "如何做用户增长", "u1")
    rows = await c.tick(SESSION + timedelta(minutes=1))
    assert [r["text"][:1] for r in rows] == ["📌"]


async def test_session_time_comes_from_config(make_chat):
    c = await make_chat(questions={"session": "fri 19:30"})
    assert await c.say("/ask 如何做用户增长\n背景说明", "u1") == [
        "已登记问题 Q1「如何做用户增长」，排在 11.27（周五）19:30 的问答。大家可以提前 /回答 Q1。"]
    rows = await c.tick(sh("2026-11-27T19:31:00"))
    assert [(r["at"], r["text"][:1]) for r in rows] == [
        (sh("2026-11-26T19:30:00").isoformat(), "⏰"), (sh("2026-11-27T19:30:00").isoformat(), "📌")]


# ---- challenges ------------------------------------------------------------------------------------------------

async def open_challenge(chat, ref: str = "Q1", moderator: str = "u3") -> str:
    [opened] = await chat.say(f"/challenge {ref}", moderator)
    m = re.search(r"挑战码：([A-Z2-9]{6})\n", opened)
    assert m, opened
    return m.group(1)


def accepted(ref: str, title: str, name: str = "小明") -> str:
    return f"{name} 参加了 {ref}「{title}」的挑战！发送 /回答 {ref} 你的回答；被选为最佳回答即免入群费（¥200.00）。"


async def test_a_moderator_opens_a_challenge(chat):
    await ask(chat, "如何做用户增长", "u1")
    [opened] = await chat.say("/挑战 Q1", "u3")
    code = re.search(r"挑战码：(\w+)", opened).group(1)
    assert opened == (f"🎯 Q1「如何做用户增长」向群外开放挑战！挑战码：{code}\n把问题和挑战码发给群外的朋友：入群后发送 "
                      f"/应战 {code}，再 /回答 Q1。被选为最佳回答即免入群费（¥200.00）。")
    assert "🎯 本题向群外开放挑战：新成员被选为最佳回答可免入群费（¥200.00）。" in (await chat.say("/q Q1", "u2"))[0]


async def test_members_may_not_open_a_challenge(chat):
    await ask(chat, "如何做用户增长", "u1")
    assert await chat.say("/challenge Q1", "u1") == [to('u1', FORBIDDEN)]
    assert "🎯" not in (await chat.say("/q Q1", "u2"))[0]


async def test_a_closed_question_cannot_be_challenged(chat):
    await ask(chat, "如何做用户增长", "u1")
    await chat.say("/close Q1", "u1")
    assert await chat.say("/challenge Q1", "u3") == [to('u3', "Q1 已关闭，不能挑战。")]
    assert await chat.say("/challenge", "u3") == [to('u3', "用法：/挑战 Q12")]
    assert await chat.say("/challenge Q8", "u3") == [to('u3', "没有找到问题 Q8。发送 /问题列表 查看进行中的问题。")]


async def test_a_second_challenge_keeps_the_code(chat):
    await ask(chat, "如何做用户增长", "u1")
    code = await open_challenge(chat)
    assert await open_challenge(chat, moderator="u_owner") == code
    await newcomer(chat)
    assert await chat.say(f"/accept {code}", "u9") == [accepted("Q1", "如何做用户增长")]


async def test_challenges_of_two_questions_have_different_codes(chat):
    await ask(chat, "如何做用户增长", "u1")
    await ask(chat, "怎么定价", "u2")
    assert await open_challenge(chat, "Q1") != await open_challenge(chat, "Q2")


async def test_accept_with_a_wrong_code(chat):
    await ask(chat, "如何做用户增长", "u1")
    await open_challenge(chat)
    await newcomer(chat)
    assert await chat.say("/accept ABC234", "u9") == [to('u9', "挑战码 ABC234 不存在。请向邀请你的人确认。")]
    assert await chat.say("/应战", "u9") == [to('u9', "用法：/应战 挑战码")]


async def test_an_existing_member_cannot_accept(chat):
    await ask(chat, "如何做用户增长", "u1")
    code = await open_challenge(chat)
    assert await chat.say(f"/accept {code}", "u2") == [
        "@李四 挑战 Q1 是给挑战开放后新入群的朋友的，你已经是成员了，直接 /回答 Q1 就好。"]


async def test_a_member_who_joined_before_the_challenge_cannot_accept(chat):
    await newcomer(chat)
    await ask(chat, "如何做用户增长", "u1")
    code = await open_challenge(chat)
    assert await chat.say(f"/accept {code}", "u9") == [
        "@u9 挑战 Q1 是给挑战开放后新入群的朋友的，你已经是成员了，直接 /回答 Q1 就好。"]


async def test_leaving_and_rejoining_does_not_make_a_member_an_outsider(chat):
    await ask(chat, "如何做用户增长", "u1")
    code = await open_challenge(chat)
    await chat.leave("u2")
    await newcomer(chat, "u2", "李四")
    assert await chat.say(f"/accept {code}", "u2") == [
        "@李四 挑战 Q1 是给挑战开放后新入群的朋友的，你已经是成员了，直接 /回答 Q1 就好。"]


async def test_a_newcomer_accepts_once(chat):
    await ask(chat, "如何做用户增长", "u1")
    code = await open_challenge(chat)
    await newcomer(chat)
    assert await chat.say(f"/应战 {code.lower()}", "u9") == [accepted("Q1", "如何做用户增长")]
    assert await chat.say(f"/accept {code}", "u9") == [to('u9', "你已经参加了 Q1 的挑战。")]


async def test_a_closed_challenge_cannot_be_accepted(chat):
    await ask(chat, "如何做用户增长", "u1")
    code = await open_challenge(chat)
    await chat.say("/close Q1", "u1")
    await newcomer(chat)
    assert await chat.say(f"/accept {code}", "u9") == [to('u9', "Q1 已关闭，不能挑战。")]


async def challenger_answers(chat) -> None:
    """Q1 by 张三, challenged; newcomer 小明 accepts and answers (A1); 李四 answers too (A2)."""
    await ask(chat, "如何做用户增长", "u1")
    code = await open_challenge(chat)
    await newcomer(chat)
    await chat.say(f"/accept {code}", "u9")
    await chat.say("/answer Q1 转介绍", "u9")
    await chat.say("/answer Q1 投放", "u2")


async def test_best_answer_by_the_challenger_waives_the_entry_fee(chat):
    await challenger_answers(chat)
    assert await chat.say("/best Q1 A1", "u1") == [
        "⭐ Q1 的最佳回答：A1（@小明），计入本周排行。",
        "🎉 @小明 通过挑战 Q1 的最佳回答，免入群费 ¥200.00，已记入公开账本 #1。"]
    assert chat.sent[-1]["mentions"] == ["u9"]
    [log] = await chat.say("/基金 流水", "u2")
    assert log == "最近 1 笔（新的在前）：\n#1 11.23 免入群费 ¥200.00 · 小明（Q1） · 张三 记账"
    assert "挑战免入群费：1 人（共 ¥200.00，备忘，不是现金）" in (await chat.say("/基金", "u2"))[0]


async def test_best_answer_by_a_non_challenger_waives_nothing(chat):
    await challenger_answers(chat)
    assert await chat.say("/best Q1 A2", "u1") == ["⭐ Q1 的最佳回答：A2（@李四），计入本周排行。"]
    assert await chat.say("/fund log", "u2") == [to('u2', NO_LEDGER)]


async def test_a_newcomer_who_did_not_accept_gets_no_waiver(chat):
    await ask(chat, "如何做用户增长", "u1")
    await open_challenge(chat)
    await newcomer(chat)
    await chat.say("/answer Q1 转介绍", "u9")
    assert await chat.say("/best Q1 A1", "u1") == ["⭐ Q1 的最佳回答：A1（@小明），计入本周排行。"]
    assert await chat.say("/fund log", "u2") == [to('u2', NO_LEDGER)]


async def test_the_waiver_is_recorded_once_when_best_goes_back_and_forth(chat):
    await challenger_answers(chat)
    assert len(await chat.say("/best Q1 A1", "u1")) == 2
    assert await chat.say("/best Q1 A2", "u1") == ["⭐ Q1 的最佳回答：A2（@李四），计入本周排行。"]
    assert await chat.say("/best Q1 A1", "u3") == ["⭐ Q1 的最佳回答：A1（@小明），计入本周排行。"]
    [log] = await chat.say("/基金 流水", "u2")
    assert log.startswith("最近 1 笔（新的在前）：\n") and log.count("免入群费") == 1
    assert [r["text"] for r in chat.sent].count(
        "🎉 @小明 通过挑战 Q1 的最佳回答，免入群费 ¥200.00，已记入公开账本 #1。") == 1


async def test_waiver_amount_follows_the_entry_fee(make_chat):
    c = await make_chat(moderators=["u3"], fund={"entry_fee": "99.5"})
    await challenger_answers(c)
    [_, won] = await c.say("/best Q1 A1", "u1")
    assert won == "🎉 @小明 通过挑战 Q1 的最佳回答，免入群费 ¥99.50，已记入公开账本 #1。"
    assert "免入群费 ¥99.50 · 小明" in (await c.say("/基金 流水", "u2"))[0]
