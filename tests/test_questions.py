"""Questions for the weekly session: asking (in one message or step by step), answering, the best answer,
closing, editing and hiding."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.adapters.base import Capability
from bot.adapters.recording import ALL_CAPABILITIES
from models import Question
from tests.conftest import sh, to, two_communities

THIS_WEEK = "11.25（周三）20:00"       # START is Monday 11.23 09:00: the cutoff (Monday 20:00) is still ahead
NEXT_WEEK = "12.2（周三）20:00"
NONE_OPEN = "现在没有进行中的问题。发送 /提问 标题 提一个吧。"
HINT = "查看详情：/问题 Q编号；回答：/回答 Q编号 内容。"
BACKGROUND_PROMPT = "要补充背景吗？直接回复背景（你试过什么、卡在哪里），回复「跳过」就不补充。"
ASK_PROMPT = "请发来你的问题：第一行是标题（最多 60 字），后面几行写背景——你试过什么、卡在哪里。回复「跳过」放弃。"
FORBIDDEN = "这个命令需要「版主」权限。"
DM_HINT = "我是「增长学习社」的群助手。发送 /帮助 查看命令，发送 /登记 登记资料，发送 /找人 关键词 找人。"


def created(n: int, title: str, session: str = THIS_WEEK) -> str:
    return f"已登记问题 Q{n}「{title}」，排在 {session} 的问答。大家可以提前 /回答 Q{n}。"


def body_prompt(title: str) -> str:
    return f"标题收到：「{title}」。再发来背景（你试过什么、卡在哪里，可以写几行），回复「跳过」就不补充。"


def announced(n: int, title: str, session: str = THIS_WEEK) -> str:
    """The private confirmation of a question asked step by step and posted in the group."""
    return f"已登记问题 Q{n}「{title}」，排在 {session} 的问答，已发到群里。发送 /问题 Q{n} 查看。"


async def room_of(chat, number: int) -> str | None:
    """The group a question belongs to."""
    async with chat.app.sessions() as db:
        return await db.scalar(select(Question.room_id).where(Question.number == number))


def not_found(ref: str) -> str:
    return f"没有找到问题 {ref}。发送 /问题列表 查看进行中的问题。"


def notified(asker: str, q: str, a: str) -> str:
    return f"@{asker} 你的问题 {q} 有新回答 {a}。发送 /问题 {q} 查看；满意可以 /最佳 {q} {a}。"


def best_ok(q: str, a: str, author: str) -> str:
    return f"⭐ {q} 的最佳回答：{a}（@{author}），计入本周排行。"


@pytest.fixture
async def chat(make_chat):
    """王五 (u3) is a moderator; 老王 (u_owner) is the owner."""
    return await make_chat(moderators=["u3"])


async def ask(chat, title: str, user: str = "u1", background: str = "背景说明") -> None:
    """A question with its background in one message (no follow-up flow)."""
    [reply] = await chat.say(f"/ask {title}\n{background}", user)
    assert reply.startswith("已登记问题 Q"), reply


# ---- ids -------------------------------------------------------------------------------------------------------

async def test_questions_and_answers_have_their_own_numbers(chat):
    assert await chat.say("/ask 如何做用户增长\n我们是教育 SaaS", "u1") == [created(1, "如何做用户增长")]
    assert await chat.say("/提问 怎么定价\n客单价 2000", "u2") == [created(2, "怎么定价")]
    assert await chat.say("/answer Q2 先做访谈", "u3") == [notified("李四", "Q2", "A1")]
    assert await chat.say("/回答 q1 转介绍", "u2") == [notified("张三", "Q1", "A2")]
    [shown] = await chat.say("/q Q1", "u3")
    assert "\nA2 李四：转介绍" in shown and "A1" not in shown


async def test_numbers_start_at_one_in_each_community(db_url):
    c = await two_communities(db_url, ("u_owner", "u4"))
    try:
        await ask(c, "增长的问题", "u1")
        await ask(c, "增长的第二个问题", "u2")
        assert await c.say("/ask 设计的问题\n背景", "u4", room="r2") == [created(1, "设计的问题")]
        assert await c.say("/answer Q1 设计的回答", "u_owner", room="r2") == [notified("赵六", "Q1", "A1")]
        [listing] = await c.say("/questions", "u4", room="r2")
        assert "Q1「设计的问题」" in listing and "增长" not in listing
        [shown] = await c.say("/q Q1", "u1")
        assert shown.startswith("Q1「增长的问题」— 张三") and "设计的回答" not in shown
    finally:
        await c.close()


# ---- asking ----------------------------------------------------------------------------------------------------

async def test_ask_with_title_and_background_in_one_message(chat):
    assert await chat.say("/ask 如何做用户增长\n我们是教育 SaaS，试过投放", "u1") == [created(1, "如何做用户增长")]
    assert [row for row in chat.sent if "user" in row] == []             # nothing more to ask in private
    assert await chat.say("/q Q1", "u2") == [
        f"Q1「如何做用户增长」— 张三（{THIS_WEEK} 问答）\n背景：我们是教育 SaaS，试过投放\n"
        "还没有回答。发送 /回答 Q1 你的回答。"]


async def test_ask_with_a_background_of_several_lines(chat):
    assert await chat.say("/ask 如何做用户增长\n我们是教育 SaaS\n试过投放，转化很低", "u1") == [
        created(1, "如何做用户增长")]
    [shown] = await chat.say("/q Q1", "u2")
    assert "背景：我们是教育 SaaS\n> 试过投放，转化很低" in shown       # later lines are quoted


async def test_ask_title_only_asks_for_the_background_in_private(chat):
    assert await chat.say("/ask 如何做用户增长", "u1") == [
        created(1, "如何做用户增长"),
        "要给 Q1「如何做用户增长」补充背景吗？直接回复背景（你试过什么、卡在哪里），回复「跳过」就不补充。"]
    group_row, dm_row = chat.sent[-2:]
    assert group_row["room"] == "r1" and dm_row["user"] == "u1" and "room" not in dm_row

    assert await chat.say("大家好", "u1") == []                           # group chat is not the background
    assert await chat.dm("我们是教育 SaaS，试过投放", "u1") == ["已为 Q1 补充背景。"]
    [shown] = await chat.say("/q Q1", "u2")
    assert "\n背景：我们是教育 SaaS，试过投放\n" in shown
    await chat.dm("再说一句", "u1")                                        # the flow is over
    assert "\n背景：我们是教育 SaaS，试过投放\n" in (await chat.say("/q Q1", "u2"))[0]


async def test_background_can_be_skipped(chat):
    await chat.say("/ask 如何做用户增长", "u1")
    assert await chat.dm("跳过", "u1") == ["好的，不补充背景。之后也可以用 /修改 补充。"]
    assert await chat.say("/q Q1", "u2") == [
        f"Q1「如何做用户增长」— 张三（{THIS_WEEK} 问答）\n还没有回答。发送 /回答 Q1 你的回答。"]


async def test_background_in_the_group_when_the_platform_cannot_dm(make_chat):
    c = await make_chat(capabilities=ALL_CAPABILITIES - {Capability.CAN_DM})
    assert await c.say("/ask 如何做用户增长", "u1") == [f"@张三 {created(1, '如何做用户增长')}\n{BACKGROUND_PROMPT}"]
    assert (c.sent[-1]["room"], c.sent[-1]["mentions"]) == ("r1", ["u1"])
    assert await c.say("我也想知道", "u2") == []                          # someone else's chat is not an answer
    assert await c.say("我们是教育 SaaS", "u1") == ["@张三 已为 Q1 补充背景。"]
    assert [row for row in c.sent if "user" in row] == []
    assert "\n背景：我们是教育 SaaS\n" in (await c.say("/q Q1", "u2"))[0]
    assert await c.say("今天天气不错", "u1") == []                        # the flow is over: chat is chat again


async def test_skipping_the_background_in_the_group(make_chat):
    c = await make_chat(capabilities=ALL_CAPABILITIES - {Capability.CAN_DM})
    await c.say("/ask 如何做用户增长", "u1")
    assert await c.say("跳过", "u1") == ["@张三 好的，不补充背景。之后也可以用 /修改 补充。"]
    assert "背景" not in (await c.say("/q Q1", "u2"))[0]


# ---- asking step by step ---------------------------------------------------------------------------------------

async def test_ask_step_by_step_goes_private_and_ends_announced_in_the_group(chat):
    assert await chat.say("/ask", "u1") == [to("u1", "我私聊你来完成提问。"), ASK_PROMPT]
    assert chat.sent[-1]["user"] == "u1"
    assert await chat.say("大家好", "u1") == []                           # group chat is not the question
    assert await chat.dm("如何做用户增长", "u1") == [body_prompt("如何做用户增长")]
    assert chat.sent[-1]["user"] == "u1"
    assert await chat.say("我也想知道", "u1") == []                        # nor the background
    assert await chat.dm("我们是教育 SaaS，试过投放", "u1") == [created(1, "如何做用户增长"),
                                                            announced(1, "如何做用户增长")]
    group_row, dm_row = chat.sent[-2:]
    assert (group_row["room"], group_row["mentions"]) == ("r1", []) and dm_row["user"] == "u1"
    # the group reads what the one-message form posts there
    assert await chat.say("/ask 怎么定价\n客单价 2000", "u2") == [created(2, "怎么定价")]
    assert await chat.say("/问题 Q1", "u2") == [
        f"Q1「如何做用户增长」— 张三（{THIS_WEEK} 问答）\n背景：我们是教育 SaaS，试过投放\n"
        "还没有回答。发送 /回答 Q1 你的回答。"]
    assert await room_of(chat, 1) == "r1"
    assert await chat.dm("再说一句", "u1") == [DM_HINT]                    # the flow is over


async def test_ask_step_by_step_in_the_group_when_the_platform_cannot_dm(make_chat):
    c = await make_chat(capabilities=ALL_CAPABILITIES - {Capability.CAN_DM})
    assert await c.say("/提问", "u1") == [to("u1", ASK_PROMPT)]
    assert await c.say("我也有问题", "u2") == []                           # someone else's chat is not an answer
    assert await c.say("如何做用户增长", "u1") == [to("u1", body_prompt("如何做用户增长"))]
    assert c.sent[-1]["mentions"] == ["u1"]
    assert await c.say("同问", "u2") == []
    assert await c.say("我们是教育 SaaS", "u1") == [created(1, "如何做用户增长")]
    assert (c.sent[-1]["room"], c.sent[-1]["mentions"]) == ("r1", [])      # the one-message form's announcement
    assert [row for row in c.sent if "user" in row] == []
    assert "\n背景：我们是教育 SaaS\n" in (await c.say("/q Q1", "u2"))[0]
    assert await room_of(c, 1) == "r1"
    assert await c.say("今天天气不错", "u1") == []                        # the flow is over: chat is chat again


async def test_ask_step_by_step_with_the_background_under_the_title(make_chat):
    c = await make_chat(capabilities=ALL_CAPABILITIES - {Capability.CAN_DM})
    await c.say("/提问", "u1")
    assert await c.say("如何做用户增长\n我们是教育 SaaS", "u1") == [created(1, "如何做用户增长")]
    assert "\n背景：我们是教育 SaaS\n" in (await c.say("/q Q1", "u2"))[0]
    assert await c.say("还有一个想法", "u1") == []                        # nothing of the flow is left


async def test_ask_step_by_step_with_the_background_skipped(chat):
    await chat.say("/ask", "u1")
    await chat.dm("如何做用户增长", "u1")
    assert await chat.dm("跳过", "u1") == [created(1, "如何做用户增长"), announced(1, "如何做用户增长")]
    assert chat.sent[-2]["room"] == "r1"
    assert await chat.say("/q Q1", "u2") == [
        f"Q1「如何做用户增长」— 张三（{THIS_WEEK} 问答）\n还没有回答。发送 /回答 Q1 你的回答。"]
    await chat.say("/ask", "u2")
    await chat.dm("怎么定价", "u2")
    assert await chat.dm("skip", "u2") == [created(2, "怎么定价"), announced(2, "怎么定价")]


async def test_ask_step_by_step_with_a_background_of_several_lines(chat):
    await chat.say("/ask", "u1")
    await chat.dm("如何做用户增长", "u1")
    assert await chat.dm("我们是教育 SaaS\n试过投放，转化很低\n预算有限", "u1") == [
        created(1, "如何做用户增长"), announced(1, "如何做用户增长")]
    [shown] = await chat.say("/q Q1", "u2")
    assert "背景：我们是教育 SaaS\n> 试过投放，转化很低\n> 预算有限\n" in shown


async def test_ask_step_by_step_cancelled_saves_nothing(chat):
    await chat.say("/ask", "u1")
    await chat.dm("如何做用户增长", "u1")
    assert await chat.dm("/取消", "u1") == ["已取消，什么都没有保存。"]
    assert await chat.dm("我们是教育 SaaS", "u1") == [DM_HINT]            # no longer the background
    assert await chat.say("/questions", "u2") == [to("u2", NONE_OPEN)]
    assert await chat.dm("/cancel", "u1") == ["现在没有进行中的登记或提问。"]
    await chat.say("/ask", "u1")                                           # cancelled from the group too
    assert await chat.say("/cancel", "u1") == [to("u1", "已取消，什么都没有保存。")]
    assert await chat.dm("如何做用户增长", "u1") == [DM_HINT]
    assert [row for row in chat.sent if row.get("room") and "Q1" in row["text"]] == []


async def test_ask_step_by_step_times_out_like_the_signup(chat):
    await chat.say("/ask", "u1")
    await chat.dm("如何做用户增长", "u1", step=timedelta(minutes=20))      # each answer gives 30 more minutes
    assert await chat.dm("我们是教育 SaaS", "u1", step=timedelta(minutes=20)) == [
        created(1, "如何做用户增长"), announced(1, "如何做用户增长")]
    await chat.say("/ask", "u1")
    await chat.dm("怎么定价", "u1")
    assert await chat.dm("客单价 2000", "u1", step=timedelta(minutes=31)) == ["提问已超时，请重新发送 /提问。"]
    assert await chat.dm("再说一句", "u1") == [DM_HINT]
    [listing] = await chat.say("/questions", "u2")
    assert "怎么定价" not in listing


async def test_a_bad_title_step_by_step_can_be_sent_again(chat):
    await chat.say("/ask", "u1")
    assert await chat.dm("增" * 61, "u1") == ["标题太长了，最多 60 字；背景请写在第二行以后。"]
    assert await chat.dm("如何做用户增长", "u1") == [body_prompt("如何做用户增长")]
    assert await chat.dm("背" * 1001, "u1") == ["背景太长了，最多 1000 字。"]
    assert await chat.dm("我们是教育 SaaS", "u1") == [created(1, "如何做用户增长"), announced(1, "如何做用户增长")]


async def test_ask_step_by_step_started_in_private_goes_to_the_askers_group(make_chat):
    c = await make_chat(groups=[{"room": "r2"}, {"room": "r1"}])           # r2 comes first in config.yaml
    await c.members("r2", ["u_owner", "u1"])
    assert await c.dm("/ask", "u2") == [ASK_PROMPT]                        # no "moved to private"
    await c.dm("如何做用户增长", "u2")
    assert await c.dm("我们是教育 SaaS", "u2") == [created(1, "如何做用户增长"), announced(1, "如何做用户增长")]
    assert c.sent[-2]["room"] == "r1"                                      # 李四 is only in r1
    assert await room_of(c, 1) == "r1"
    await c.dm("/提问", "u1")                                               # 张三 is in both: the first listed
    await c.dm("怎么定价", "u1")
    assert await c.dm("跳过", "u1") == [created(2, "怎么定价"), announced(2, "怎么定价")]
    assert c.sent[-2]["room"] == "r2"
    assert await room_of(c, 2) == "r2"


async def test_a_one_message_question_asked_in_private_is_announced_in_the_askers_group(chat):
    assert await chat.dm("/提问 如何做用户增长\n我们是教育 SaaS", "u2") == [
        created(1, "如何做用户增长"), announced(1, "如何做用户增长")]
    assert chat.sent[-2]["room"] == "r1" and "room" not in chat.sent[-1]
    assert await room_of(chat, 1) == "r1"


async def test_a_title_asked_in_private_is_announced_and_its_background_asked_for(chat):
    assert await chat.dm("/提问 如何做用户增长", "u2") == [
        created(1, "如何做用户增长"), announced(1, "如何做用户增长"),
        "要补充背景吗？直接回复背景（你试过什么、卡在哪里），回复「跳过」就不补充。"]
    assert chat.sent[-3]["room"] == "r1"
    assert await chat.dm("我们是教育 SaaS", "u2") == ["已为 Q1 补充背景。"]
    assert "\n背景：我们是教育 SaaS\n" in (await chat.say("/q Q1", "u3"))[0]


async def test_ask_step_by_step_in_private_by_a_member_in_no_group(chat):
    await chat.leave("u3")
    await chat.dm("/ask", "u3")
    await chat.dm("如何做用户增长", "u3")
    assert await chat.dm("我们是教育 SaaS", "u3") == [created(1, "如何做用户增长")]
    assert "room" not in chat.sent[-1]
    assert await room_of(chat, 1) is None
    assert "\n背景：我们是教育 SaaS\n" in (await chat.say("/q Q1", "u2"))[0]


async def test_ask_without_text_then_skip_gives_up(chat):
    await chat.dm("/ask", "u1")
    [reply] = await chat.dm("跳过", "u1")
    assert "已登记问题" not in reply
    assert await chat.say("/questions", "u2") == [to("u2", NONE_OPEN)]


async def test_ask_flow_expires(chat):
    await chat.dm("/ask", "u1")
    assert await chat.dm("如何做用户增长", "u1", step=timedelta(minutes=31)) == ["提问已超时，请重新发送 /提问。"]
    assert await chat.say("/questions", "u2") == [to("u2", NONE_OPEN)]


@pytest.mark.parametrize("text, reply", [
    ("增" * 61, "标题太长了，最多 60 字；背景请写在第二行以后。"),
    ("标题\n" + "背" * 1001, "背景太长了，最多 1000 字。"),
    ("\ufe0f\n背景", "请在第一行写上问题的标题，背景写在后面几行。"),      # a title of nothing visible
])
async def test_bad_ask_input_creates_nothing(chat, text, reply):
    assert await chat.say(f"/ask {text}", "u1") == [to("u1", reply)]
    assert await chat.say("/questions", "u2") == [to("u2", NONE_OPEN)]
    assert await chat.say("/ask 下一个\n背景", "u1") == [created(1, "下一个")]


async def test_a_title_at_the_limit_is_accepted(chat):
    assert await chat.say("/ask " + "增" * 60, "u1") == [created(1, "增" * 60), (
        f"要给 Q1「{'增' * 60}」补充背景吗？直接回复背景（你试过什么、卡在哪里），回复「跳过」就不补充。")]


async def test_a_redelivered_message_creates_one_question(chat):
    assert await chat.say("/ask 如何做用户增长\n背景", "u1", id="m1") == [created(1, "如何做用户增长")]
    assert await chat.say("/ask 如何做用户增长\n背景", "u1", id="m1") == []
    [listing] = await chat.say("/questions", "u2")
    assert listing.count("如何做用户增长") == 1
    assert await chat.say("/ask 下一个\n背景", "u1") == [created(2, "下一个")]


# ---- the session a question goes to ----------------------------------------------------------------------------

async def test_asked_on_monday_goes_to_this_wednesday(chat):
    assert await chat.say("/ask 周一的问题\n背景", "u1", at=sh("2026-11-23T19:59:00")) == [
        created(1, "周一的问题", THIS_WEEK)]


async def test_asked_after_the_cutoff_goes_to_next_wednesday(chat):
    assert await chat.say("/ask 周二的问题\n背景", "u1", at=sh("2026-11-24T21:00:00")) == [
        created(1, "周二的问题", NEXT_WEEK)]


async def test_asked_after_the_session_goes_to_next_wednesday(chat):
    assert await chat.say("/ask 周三晚的问题\n背景", "u1", at=sh("2026-11-25T21:00:00")) == [
        created(1, "周三晚的问题", NEXT_WEEK)]


async def test_cutoff_comes_from_config(make_chat):
    c = await make_chat(questions={"cutoff_days": 1})
    assert await c.say("/ask 周二的问题\n背景", "u1", at=sh("2026-11-24T19:00:00")) == [
        created(1, "周二的问题", THIS_WEEK)]
    assert await c.say("/ask 周二晚的问题\n背景", "u1", at=sh("2026-11-24T20:01:00")) == [
        created(2, "周二晚的问题", NEXT_WEEK)]


async def test_questions_lists_open_ones_by_session(chat):
    await ask(chat, "周一的问题", "u1")
    await chat.say("/answer Q1 一个回答", "u2")
    await ask(chat, "另一个", "u2")
    await chat.say("/ask 周二的问题\n背景", "u3", at=sh("2026-11-24T21:00:00"))
    assert await chat.say("/问题列表", "u1") == [
        f"进行中的问题：\n【{THIS_WEEK} 问答】\nQ1「周一的问题」— 张三 · 1 个回答\nQ2「另一个」— 李四 · 0 个回答\n"
        f"【{NEXT_WEEK} 问答】\nQ3「周二的问题」— 王五 · 0 个回答\n{HINT}"]


async def test_questions_leaves_out_closed_and_hidden_ones(chat):
    await ask(chat, "会关闭的", "u1")
    await ask(chat, "会隐藏的", "u2")
    await ask(chat, "还开着的", "u1")
    await chat.say("/close Q1", "u1")
    await chat.say("/hide Q2", "u3")
    assert await chat.say("/questions", "u2") == [
        f"进行中的问题：\n【{THIS_WEEK} 问答】\nQ3「还开着的」— 张三 · 0 个回答\n{HINT}"]
    await chat.say("/close Q3", "u1")
    assert await chat.say("/questions", "u2") == [to("u2", NONE_OPEN)]


# ---- answering -------------------------------------------------------------------------------------------------

async def test_answer_of_several_lines(chat):
    await ask(chat, "如何做用户增长")
    assert await chat.say("/answer Q1 三点：\n1. 转介绍\n2. 内容", "u2") == [notified("张三", "Q1", "A1")]
    [shown] = await chat.say("/q Q1", "u3")
    assert "\nA1 李四：三点：\n> 1. 转介绍\n> 2. 内容" in shown


async def test_answer_mentions_the_asker(chat):
    await ask(chat, "如何做用户增长")
    await chat.say("/answer Q1 转介绍", "u2")
    assert chat.sent[-1]["mentions"] == ["u1"]
    assert await chat.say("/answer Q1 补充一下", "u1") == [
        "已记录回答 A2（回答 Q1）。觉得有帮助可以 /打赏 A2 10。"]
    assert await chat.dm("/answer Q1 私聊里回答", "u2") == [
        "已记录回答 A3（回答 Q1）。觉得有帮助可以 /打赏 A3 10。"]


async def test_answer_to_a_closed_question_is_refused(chat):
    await ask(chat, "如何做用户增长")
    await chat.say("/close Q1", "u1")
    assert await chat.say("/answer Q1 转介绍", "u2") == [to("u2", "Q1 已关闭，不再接受新回答。已有的回答仍然可以打赏。")]
    assert "还没有回答" in (await chat.say("/q Q1", "u2"))[0]


async def test_answer_to_an_unknown_question_is_refused(chat):
    await ask(chat, "如何做用户增长")
    assert await chat.say("/answer Q7 转介绍", "u2") == [to("u2", not_found("Q7"))]
    assert await chat.say("/answer Q1 转介绍", "u2") == [notified("张三", "Q1", "A1")]   # A1: nothing was taken


@pytest.mark.parametrize("text", ["/answer", "/answer Q1", "/回答 Q1   ", "/answer 转介绍很好用", "/answer A1 转介绍"])
async def test_answer_without_a_question_or_text_shows_the_usage(chat, text):
    await ask(chat, "如何做用户增长")
    assert await chat.say(text, "u2") == [to("u2", "用法：/回答 Q12 你的回答（可以多行）")]
    assert "还没有回答" in (await chat.say("/q Q1", "u2"))[0]


async def test_answer_that_is_too_long(chat):
    await ask(chat, "如何做用户增长")
    assert await chat.say("/answer Q1 " + "长" * 2001, "u2") == [to("u2", "内容太长了，最多 2000 字。")]
    assert "还没有回答" in (await chat.say("/q Q1", "u2"))[0]


# ---- /q --------------------------------------------------------------------------------------------------------

async def test_q_shows_the_best_answer_first(chat):
    await chat.say("/ask 如何做用户增长\n我们是教育 SaaS", "u1")
    await chat.say("/answer Q1 投放", "u2")
    await chat.say("/answer Q1 转介绍", "u3")
    await chat.say("/answer Q1 内容", "u_owner")
    await chat.say("/best Q1 A2", "u1")
    assert await chat.say("/问题 Q1", "u2") == [
        f"Q1「如何做用户增长」— 张三（{THIS_WEEK} 问答）\n背景：我们是教育 SaaS\n回答（3）：\n"
        "⭐最佳 A2 王五：转介绍\nA1 李四：投放\nA3 老王：内容"]


@pytest.mark.parametrize("text, reply", [
    ("/q", "用法：/问题 Q12"),
    ("/q 增长", "用法：/问题 Q12"),
    ("/q A1", "用法：/问题 Q12"),
    ("/q Q2", not_found("Q2")),
])
async def test_q_with_a_bad_id(chat, text, reply):
    await ask(chat, "如何做用户增长")
    assert await chat.say(text, "u2") == [to("u2", reply)]


# ---- the best answer -------------------------------------------------------------------------------------------

async def test_best_by_the_asker(chat):
    await ask(chat, "如何做用户增长")
    await chat.say("/answer Q1 转介绍", "u2")
    assert await chat.say("/最佳 Q1 A1", "u1") == [best_ok("Q1", "A1", "李四")]
    assert chat.sent[-1]["mentions"] == ["u2"]
    assert "\n⭐最佳 A1 李四：转介绍" in (await chat.say("/q Q1", "u3"))[0]


@pytest.mark.parametrize("moderator", ["u3", "u_owner"])
async def test_best_by_a_moderator(chat, moderator):
    await ask(chat, "如何做用户增长")
    await chat.say("/answer Q1 转介绍", "u2")
    assert await chat.say("/best Q1 A1", moderator) == [best_ok("Q1", "A1", "李四")]
    assert "\n⭐最佳 A1 李四：转介绍" in (await chat.say("/q Q1", "u1"))[0]


async def test_best_by_someone_else_is_refused(chat):
    await ask(chat, "如何做用户增长")
    await chat.say("/answer Q1 转介绍", "u3")
    assert await chat.say("/best Q1 A1", "u2") == [to("u2", "只有提问者或版主可以为 Q1 选最佳回答。")]
    assert "⭐" not in (await chat.say("/q Q1", "u2"))[0]


async def test_best_with_an_answer_of_another_question_is_refused(chat):
    await ask(chat, "如何做用户增长")
    await ask(chat, "怎么定价", "u2")
    await chat.say("/answer Q2 先做访谈", "u3")
    assert await chat.say("/best Q1 A1", "u1") == [to("u1", "A1 不是 Q1 的回答。")]
    assert "⭐" not in (await chat.say("/q Q1", "u1"))[0]
    assert "⭐" not in (await chat.say("/q Q2", "u1"))[0]


async def test_the_askers_own_answer_cannot_be_best(chat):
    await ask(chat, "如何做用户增长")
    await chat.say("/answer Q1 我自己找到答案了", "u1")
    assert await chat.say("/best Q1 A1", "u1") == [to("u1", "提问者自己的回答不能设为最佳。")]
    assert await chat.say("/best Q1 A1", "u3") == [to("u3", "提问者自己的回答不能设为最佳。")]
    assert "⭐" not in (await chat.say("/q Q1", "u1"))[0]


@pytest.mark.parametrize("author", ["u3", "u_owner"])
async def test_nobody_marks_their_own_answer_best(chat, author):
    """A moderator (or owner) who answered someone else's question cannot award themselves."""
    await ask(chat, "如何做用户增长")
    await chat.say("/answer Q1 转介绍", author)
    assert await chat.say("/best Q1 A1", author) == [to(author, "不能把自己的回答 A1 设为最佳，请由提问者或另一位版主来选 Q1 的最佳回答。")]
    assert "⭐" not in (await chat.say("/q Q1", "u1"))[0]
    other = "u_owner" if author == "u3" else "u3"
    name = {"u3": "王五", "u_owner": "老王"}[author]
    assert await chat.say("/best Q1 A1", other) == [best_ok("Q1", "A1", name)]      # another moderator may


async def test_the_asker_may_mark_a_moderators_answer_best(chat):
    await ask(chat, "如何做用户增长")
    await chat.say("/answer Q1 转介绍", "u3")
    assert await chat.say("/best Q1 A1", "u1") == [best_ok("Q1", "A1", "王五")]


async def test_best_twice_says_already(chat):
    await ask(chat, "如何做用户增长")
    await chat.say("/answer Q1 转介绍", "u2")
    await chat.say("/best Q1 A1", "u1")
    assert await chat.say("/best Q1 A1", "u3") == [to("u3", "A1 已经是最佳回答了。")]
    assert (await chat.say("/q Q1", "u1"))[0].count("⭐最佳") == 1


async def test_best_can_be_changed(chat):
    await ask(chat, "如何做用户增长")
    await chat.say("/answer Q1 投放", "u2")
    await chat.say("/answer Q1 转介绍", "u3")
    await chat.say("/best Q1 A1", "u1")
    assert await chat.say("/best Q1 A2", "u1") == [best_ok("Q1", "A2", "王五")]
    [shown] = await chat.say("/q Q1", "u1")
    assert shown.endswith("回答（2）：\n⭐最佳 A2 王五：转介绍\nA1 李四：投放")


@pytest.mark.parametrize("text, reply", [
    ("/best", "用法：/最佳 Q12 A37"),
    ("/best Q1", "用法：/最佳 Q12 A37"),
    ("/best Q1 Q1", "用法：/最佳 Q12 A37"),
    ("/best Q1 A9", "没有找到回答 A9。回答编号以 A 开头，发送 /问题 Q编号 可以看到。"),
    ("/best Q9 A1", not_found("Q9")),
    ("/最佳 ⑴", "用法：/最佳 Q12 A37"),                       # digits that are not ASCII digits
    ("/最佳 Q1 A²", "用法：/最佳 Q12 A37"),
    ("/最佳 Q1 ٣", "用法：/最佳 Q12 A37"),
    ("/最佳 Q1 A" + "1" * 5000, "用法：/最佳 Q12 A37"),
])
async def test_best_with_bad_ids_changes_nothing(chat, text, reply):
    await ask(chat, "如何做用户增长")
    await chat.say("/answer Q1 转介绍", "u2")
    assert await chat.say(text, "u1") == [to("u1", reply)]
    assert "⭐" not in (await chat.say("/q Q1", "u1"))[0]


@pytest.mark.parametrize("text, reply", [
    ("/问题 ²", "用法：/问题 Q12"),
    ("/问题 Q²", "用法：/问题 Q12"),
    ("/问题 １", "用法：/问题 Q12"),
    ("/回答 ² 好问题", "用法：/回答 Q12 你的回答（可以多行）"),
    ("/回答 ٣ 好问题", "用法：/回答 Q12 你的回答（可以多行）"),
    ("/关闭 ⑴", "用法：/关闭 Q12"),
    ("/修改 A² 新内容", "用法：/修改 Q12 新标题（后面几行是新背景）或 /修改 A37 新内容"),
    ("/隐藏 Q³", "用法：/隐藏 Q12 或 /隐藏 A37"),
    ("/挑战 ²", "用法：/挑战 Q12"),
])
async def test_ids_with_digits_that_are_not_ascii_get_the_usage(chat, text, reply):
    await ask(chat, "如何做用户增长")
    assert await chat.say(text, "u3") == [to("u3", reply)]


# ---- closing ---------------------------------------------------------------------------------------------------

async def test_close_by_the_asker_without_a_best_answer(chat):
    await ask(chat, "如何做用户增长")
    assert await chat.say("/关闭 Q1", "u1") == ["Q1 已关闭。还没有选最佳回答，提问者或版主可以 /最佳 Q1 A编号。"]
    assert await chat.say("/questions", "u2") == [to("u2", NONE_OPEN)]


async def test_close_by_a_moderator_after_a_best_answer(chat):
    await ask(chat, "如何做用户增长")
    await chat.say("/answer Q1 转介绍", "u2")
    await chat.say("/best Q1 A1", "u1")
    assert await chat.say("/close Q1", "u3") == ["Q1 已关闭。已有的回答仍然可以打赏。"]
    [shown] = await chat.say("/q Q1", "u2")
    assert shown.startswith(f"Q1「如何做用户增长」— 张三（{THIS_WEEK} 问答）［已关闭］\n")


async def test_best_can_still_be_chosen_after_closing(chat):
    await ask(chat, "如何做用户增长")
    await chat.say("/answer Q1 转介绍", "u2")
    await chat.say("/close Q1", "u1")
    assert await chat.say("/best Q1 A1", "u1") == [best_ok("Q1", "A1", "李四")]


async def test_close_by_someone_else_is_refused(chat):
    await ask(chat, "如何做用户增长")
    assert await chat.say("/close Q1", "u2") == [to("u2", "只有提问者或版主可以关闭 Q1。")]
    assert "Q1「如何做用户增长」" in (await chat.say("/questions", "u2"))[0]
    assert await chat.say("/answer Q1 还能回答", "u2") == [notified("张三", "Q1", "A1")]


async def test_close_twice(chat):
    await ask(chat, "如何做用户增长")
    await chat.say("/close Q1", "u1")
    assert await chat.say("/close Q1", "u3") == [to("u3", "Q1 已经关闭了。")]
    assert await chat.say("/close", "u1") == [to("u1", "用法：/关闭 Q12")]
    assert await chat.say("/close Q5", "u1") == [to("u1", not_found("Q5"))]


# ---- editing ---------------------------------------------------------------------------------------------------

async def test_edit_the_title_and_background_of_ones_question(chat):
    await chat.say("/ask 如何做增长\n旧背景", "u1")
    assert await chat.say("/修改 Q1 如何做用户增长\n我们是教育 SaaS", "u1") == [to("u1", "Q1 已修改。")]
    assert await chat.say("/q Q1", "u2") == [
        f"Q1「如何做用户增长」— 张三（{THIS_WEEK} 问答）\n背景：我们是教育 SaaS\n还没有回答。发送 /回答 Q1 你的回答。"]


async def test_edit_the_title_alone_keeps_the_background(chat):
    await chat.say("/ask 如何做增长\n我们是教育 SaaS", "u1")
    assert await chat.say("/edit Q1 如何做用户增长", "u1") == [to("u1", "Q1 已修改。")]
    [shown] = await chat.say("/q Q1", "u2")
    assert shown.startswith("Q1「如何做用户增长」— 张三") and "\n背景：我们是教育 SaaS\n" in shown


async def test_edit_ones_answer(chat):
    await ask(chat, "如何做用户增长")
    await chat.say("/answer Q1 投放", "u2")
    assert await chat.say("/edit A1 转介绍", "u2") == [to("u2", "A1 已修改。")]
    [shown] = await chat.say("/q Q1", "u1")
    assert "\nA1 李四：转介绍" in shown and "投放" not in shown


@pytest.mark.parametrize("user", ["u2", "u3", "u_owner"])
async def test_only_the_author_may_edit(chat, user):
    await ask(chat, "如何做用户增长")
    await chat.say("/answer Q1 转介绍", "u1")
    assert await chat.say("/edit Q1 改掉标题", user) == [to(user, "只能修改自己的问题或回答，Q1 不是你的。")]
    assert await chat.say("@李四 /edit A1 改掉回答", user) == [to(user, "只能修改自己的问题或回答，A1 不是你的。")]
    [shown] = await chat.say("/q Q1", "u1")
    assert "Q1「如何做用户增长」" in shown and "\nA1 张三：转介绍" in shown


@pytest.mark.parametrize("text, reply", [
    ("/edit", "用法：/修改 Q12 新标题（后面几行是新背景）或 /修改 A37 新内容"),
    ("/edit Q1", "用法：/修改 Q12 新标题（后面几行是新背景）或 /修改 A37 新内容"),
    ("/edit 新标题", "用法：/修改 Q12 新标题（后面几行是新背景）或 /修改 A37 新内容"),
    ("/edit Q1 " + "增" * 61, "标题太长了，最多 60 字；背景请写在第二行以后。"),
    ("/edit Q3 新标题", not_found("Q3")),
])
async def test_bad_edit_changes_nothing(chat, text, reply):
    await ask(chat, "如何做用户增长")
    assert await chat.say(text, "u1") == [to("u1", reply)]
    assert (await chat.say("/q Q1", "u2"))[0].startswith("Q1「如何做用户增长」")


# ---- hiding ----------------------------------------------------------------------------------------------------

async def test_members_may_not_hide(chat):
    await ask(chat, "如何做用户增长")
    await chat.say("/answer Q1 转介绍", "u2")
    assert await chat.say("/hide Q1", "u1") == [to("u1", FORBIDDEN)]
    assert await chat.say("/隐藏 A1", "u2") == [to("u2", FORBIDDEN)]
    [shown] = await chat.say("/q Q1", "u2")
    assert "［已隐藏］" not in shown and "\nA1 李四：转介绍" in shown


async def test_a_hidden_question_is_gone_for_members(chat):
    await ask(chat, "广告：加我微信")
    await ask(chat, "如何做用户增长")
    assert await chat.say("/hide Q1", "u3") == ["Q1 已隐藏，不再出现在列表、问答议程和排行里。"]
    assert await chat.say("/q Q1", "u2") == [to("u2", not_found("Q1"))]
    assert await chat.say("/answer Q1 好的", "u2") == [to("u2", not_found("Q1"))]
    assert await chat.say("/edit Q1 改一下", "u1") == [to("u1", not_found("Q1"))]
    [listing] = await chat.say("/questions", "u2")
    assert "Q1" not in listing and "Q2「如何做用户增长」" in listing
    [shown] = await chat.say("/q Q1", "u3")                                # moderators still see it, marked
    assert shown.startswith(f"Q1「广告：加我微信」— 张三（{THIS_WEEK} 问答）［已隐藏］")


async def test_a_hidden_answer_is_gone_for_members(chat):
    await ask(chat, "如何做用户增长")
    await chat.say("/answer Q1 广告链接", "u2")
    await chat.say("/answer Q1 转介绍", "u3")
    assert await chat.say("/hide A1", "u_owner") == ["A1 已隐藏，不再出现在列表、问答议程和排行里。"]
    [shown] = await chat.say("/q Q1", "u1")
    assert "广告链接" not in shown and shown.endswith("回答（1）：\nA2 王五：转介绍")
    assert "· 1 个回答" in (await chat.say("/questions", "u1"))[0]
    assert await chat.say("/best Q1 A1", "u1") == [to("u1", "没有找到回答 A1。回答编号以 A 开头，发送 /问题 Q编号 可以看到。")]
    [shown] = await chat.say("/q Q1", "u3")
    assert "\nA1 李四：广告链接［已隐藏］" in shown


async def test_unhide_brings_it_back(chat):
    await ask(chat, "如何做用户增长")
    await chat.say("/hide Q1", "u3")
    assert await chat.say("/unhide Q1", "u1") == [to("u1", FORBIDDEN)]
    assert await chat.say("/q Q1", "u2") == [to("u2", not_found("Q1"))]
    assert await chat.say("/取消隐藏 Q1", "u3") == ["Q1 已恢复显示。"]
    [shown] = await chat.say("/q Q1", "u2")
    assert shown.startswith("Q1「如何做用户增长」") and "［已隐藏］" not in shown
    assert "Q1「如何做用户增长」" in (await chat.say("/questions", "u2"))[0]


async def test_hide_and_unhide_twice(chat):
    await ask(chat, "如何做用户增长")
    await chat.say("/answer Q1 转介绍", "u2")
    assert await chat.say("/unhide A1", "u3") == [to("u3", "A1 没有被隐藏。")]
    await chat.say("/hide A1", "u3")
    assert await chat.say("/hide A1", "u3") == [to("u3", "A1 已经是隐藏的。")]
    assert await chat.say("/hide", "u3") == [to("u3", "用法：/隐藏 Q12 或 /隐藏 A37")]
    assert await chat.say("/unhide", "u3") == [to("u3", "用法：/取消隐藏 Q12 或 /取消隐藏 A37")]
    assert await chat.say("/hide Q9", "u3") == [to("u3", not_found("Q9"))]
