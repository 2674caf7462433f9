"""The weekly digest: drafting from the week's questions and chat, editing in private, picking answers, publishing
once as a numbered issue, re-reading as things stand now, corrections and the weekly auto-publish job."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.adapters.base import Capability, IncomingMessage, MessageKind
from bot.adapters.recording import ALL_CAPABILITIES
from models import Digest
from tests.conftest import sh, to
from tests.test_hidden import totals_and_recount

FORBIDDEN = "这个命令需要「版主」权限。"
SENT = to("王五", "周报草稿已私聊发给你。")
NO_DRAFT = "现在没有周报草稿。发送 /周报 起草本周的；已发布的一期只能更正：/周报 更正 期号 内容。"
CHAT = [("u1", "大家觉得私域流量怎么做留存"), ("u2", "私域留存关键是社群运营和内容"),
        ("u3", "社群运营要有固定的活动节奏"), ("u1", "内容运营谁有好的案例"),
        ("u2", "我们做过一个社群留存的案例，效果不错")]
DRAFT = [
    "📝 周报草稿 · 增长学习社 · 11.23–11.29（截至 11.26（周四）10:00）",
    "【1】❓ Q1「怎么做用户增长」（提问：张三）",
    "  背景：我们是教育产品，试过投放，成本很高",
    "  ⭐ A1 李四（收到 10 分）：先做留存再做增长，留存不好投放都是浪费",
    "  A2 王五（收到 0 分）：试试老带新的裂变活动",
    "【2】💬 讨论：留存、社群、运营（5 条，张三、李四、王五）",
    "  李四：私域留存关键是社群运营和内容",
    "  王五：社群运营要有固定的活动节奏",
    "  李四：我们做过一个社群留存的案例，效果不错",
    "【3】🔗 分享的链接和文件：",
    "  增长黑客实战 https://example.org/a —— 张三",
    "【4】🏷️ 本周关键词：留存、社群、运营、内容、案例、私域、不错、做过、关键、固定",
    "【5】🙏 感谢：李四（打赏 10 · 最佳 1 · 回答 1）、王五（打赏 0 · 最佳 0 · 回答 1）",
    "【6】📊 本周数据：消息 6 条 · 发言 3 人 · 活跃 3 人（占 75%，健康的群在 8–10%） · 新成员 0 人",
    "删一节：/周报 删 节号；改写：/周报 改 节号 新内容；选回答：/周报 选 A编号；发布：/周报 发布",
]
WED = sh("2026-11-26T10:00:00")


@pytest.fixture
async def chat(make_chat):
    """王五 (u3) is a moderator; 老王 (u_owner) is the owner."""
    return await make_chat(moderators=["u3"])


async def a_week(chat) -> None:
    """张三 asks Q1; 李四's A1 is best and tipped 10; 王五 answers A2; five messages about 社群留存 and a link."""
    await chat.say("/提问 怎么做用户增长\n我们是教育产品，试过投放，成本很高", "u1")
    await chat.say("/回答 Q1 先做留存再做增长，留存不好投放都是浪费", "u2")
    await chat.say("/回答 Q1 试试老带新的裂变活动", "u3")
    await chat.say("/最佳 Q1 A1", "u1")
    await chat.say("/打赏 A1 10", "u1")
    for i, (user, text) in enumerate(CHAT):
        await chat.say(text, user, at=sh("2026-11-24T20:00:00") + timedelta(minutes=2 * i))
    await chat.tick(sh("2026-11-25T09:00:00"))
    await chat.driver.handle(IncomingMessage("link1", "r1", "u1", "张三", "增长黑客实战", chat.clock.now(),
                                             kind=MessageKind.LINK, url="https://example.org/a"))
    await chat.flush()


async def draft(chat, user: str = "u3", args: str = "", at=None) -> list[str]:
    return await chat.say(f"/周报 {args}".strip(), user, at=at or WED)


def issues(chat, room: str = "r1") -> list[str]:
    return [r["text"] for r in chat.sent if r.get("room") == room and r["text"].startswith("📰")]


async def test_the_draft_of_a_week_goes_privately_to_the_moderator_with_its_sections_in_order(chat):
    await a_week(chat)
    [private, note] = await draft(chat)
    assert private.split("\n") == DRAFT and note == SENT
    assert chat.sent[-2]["user"] == "u3" and chat.sent[-1]["room"] == "r1"


async def test_a_topic_names_everyone_who_spoke_in_it_not_only_those_it_quotes(chat):
    # No questions: 张三 wrote none of the three quoted messages and is known to the digest only as a speaker.
    for i, (user, text) in enumerate(CHAT):
        await chat.say(text, user, at=sh("2026-11-24T20:00:00") + timedelta(minutes=2 * i))
    await chat.flush()
    [private, _] = await draft(chat)
    topic = next(line for line in private.split("\n") if "💬" in line)
    assert topic == "【1】💬 讨论：留存、社群、运营（5 条，张三、李四、王五）"
    quoted = private.split("\n")[2:5]
    assert [line.split("：")[0].strip() for line in quoted] == ["李四", "王五", "李四"]
    # Read again later (not just compiled), the topic counts and names the same.
    await chat.say("/周报 发布", "u3")
    [issue] = issues(chat)
    assert "💬 讨论：留存、社群、运营（5 条，张三、李四、王五）" in issue


async def test_members_cannot_draft_and_an_empty_week_makes_no_document(chat):
    assert await draft(chat, "u1") == [to("张三", FORBIDDEN)]
    assert await draft(chat) == [to("王五", "11.23–11.29 这周还没有问答，也没有保存的群聊，不生成空周报。")]
    assert await chat.say("/周报 3天", "u3") == [to("王五", "这段时间没有问答，也没有保存的群聊，不生成空周报。")]
    assert await chat.say("/周报 发布", "u3") == [to("王五", NO_DRAFT)]


async def test_edit_pick_and_publish_once_then_list_and_read_again(chat):
    await a_week(chat)
    await draft(chat)
    assert await chat.say("/周报 删 9", "u3") == [to("王五", "草稿里没有第 9 节（共 6 节）。")]
    assert await chat.say("/周报 选 A2", "u3") == [to("王五", "不能把自己的回答 A2 选入周报。")]
    assert await chat.dm("/digest pick A1", "u3") == ["A1（李四）入选周报，计入本周排行。"]
    assert await chat.say("/周报 选 A1", "u_owner") == [to("老王", "A1 已经入选过周报了。")]
    assert await chat.dm("/周报 删 3", "u3") == ["已从草稿删掉第 3 节。发送 /周报 再看草稿，/周报 发布 发布。"]
    assert await chat.dm("/周报 改 5 感谢李四和王五的分享！", "u3") == [
        "已改写草稿第 5 节。发送 /周报 再看草稿，/周报 发布 发布。"]
    [again] = await chat.dm("/周报", "u3")           # compiled afresh in private; the edits stay
    assert "【5】感谢李四和王五的分享！" in again and "【3】" not in again and "已删掉：第 3 节" in again
    assert "  ⭐ A1 李四（收到 10 分）📌入选周报：先做留存再做增长，留存不好投放都是浪费" in again
    [posted] = await chat.say("/周报 发布", "u3")
    assert posted.split("\n")[0] == "📰 增长学习社 周报 第 1 期 · 11.23–11.29" and "【" not in posted
    assert "感谢李四和王五的分享！" in posted and "example.org" not in posted
    assert await chat.say("/周报 发布", "u3") == [to("王五", NO_DRAFT)]
    assert await chat.say("/周报 改 2 晚了", "u3") == [to("王五", NO_DRAFT)]
    assert await chat.say("/周报 列表", "u1") == ["📚 已发布的周报：\n第 1 期 · 11.23–11.29 · 11.26 发布\n"
                                               "重看某一期：/周报 第N期"]
    assert await chat.say("/周报 第1期", "u1") == [posted]
    assert await chat.dm("/digest 1", "u2") == await chat.dm("/周报 第 1 期", "u2") == [posted]
    assert await chat.say("/周报 第7期", "u1") == [to("张三", "没有第 7 期周报。发送 /周报 列表 查看已发布的。")]
    [rank] = await chat.say("/排行", "u1")
    assert "1. 李四 70 分（打赏 10 · 最佳 1 · 帮助 1 人 · 入选 1）" in rank


async def test_hidden_and_deleted_content_leaves_a_published_issue_when_it_is_read_again(chat):
    await a_week(chat)
    await draft(chat)
    [posted] = await chat.say("/周报 发布", "u3")
    assert "A2 王五" in posted and "李四：私域留存" in posted
    await chat.say("/隐藏 A2", "u3")
    await chat.say("/资料 删除 确认", "u2")
    [again] = await chat.say("/周报 第1期", "u1")
    assert "A2" not in again and "试试老带新" not in again
    assert "李四" not in again and "私域留存关键" not in again and "先做留存" not in again
    assert "王五：社群运营要有固定的活动节奏" in again
    await chat.say("/隐藏 Q1", "u3")
    [again] = await chat.say("/周报 第1期", "u1")
    assert "Q1" not in again and "怎么做用户增长" not in again


async def test_a_correction_is_a_numbered_note_never_an_edit(chat):
    await a_week(chat)
    await draft(chat)
    [posted] = await chat.say("/周报 发布", "u3")
    assert await chat.say("/周报 更正 1 A1 的作者是李四", "u1") == [to("张三", FORBIDDEN)]
    assert await chat.dm("/digest fix 1 A1 的作者是李四", "u3") == ["📌 第 1 期周报 更正 1：A1 的作者是李四",
                                                               "已给第 1 期发布更正 1。"]
    assert chat.sent[-2]["room"] == "r1"
    [again] = await chat.say("/周报 1", "u1")
    assert again == posted + "\n更正 1（11.26）：A1 的作者是李四"


async def test_spans_and_one_question_are_never_read_as_an_issue_number(chat):
    await a_week(chat)
    [private, _] = await chat.say("/周报 7天", "u3", at=WED)
    assert private.startswith("📝 周报草稿 · 增长学习社 · 11.19（周四）10:00 至 11.26（周四）10:00")
    [private, _] = await chat.say("/周报 Q1", "u3")
    assert private.split("\n")[1] == "【1】❓ Q1「怎么做用户增长」（提问：张三）" and "【2】" not in private
    assert await chat.say("/周报 Q9", "u3") == [to("王五", "没有找到问题 Q9。发送 /问题列表 查看进行中的问题。")]
    assert await chat.say("/周报 第", "u1") == [to("张三", "用法：/周报 第7期（或 /周报 7）")]
    assert await chat.say("/周报 上周", "u3") == [to("王五", "用法：/周报（本周至今）；/周报 3天 或 /周报 6小时；/周报 Q12；"
                                                     "重看：/周报 第7期；列表：/周报 列表")]


async def test_the_weekly_job_publishes_the_draft_once_unless_a_moderator_did(chat):
    await a_week(chat)
    await draft(chat)
    await chat.dm("/周报 删 3", "u3")
    sent = await chat.tick(sh("2026-11-29T20:00:01"))
    [auto] = [r["text"] for r in sent if r.get("room") == "r1"]
    assert auto.startswith("📰 增长学习社 周报 第 1 期 · 11.23–11.29") and auto.endswith("（本期由定时任务自动发布）")
    assert "example.org" not in auto                       # the moderator's edit stands
    assert await chat.say("/周报 列表", "u1") == ["📚 已发布的周报：\n第 1 期 · 11.23–11.29 · 11.29 发布（自动）\n"
                                               "重看某一期：/周报 第N期"]
    await chat.say("又一周的讨论", "u1", at=sh("2026-12-01T10:00:00"))
    await chat.say("/周报", "u3")
    await chat.say("/周报 发布", "u3")                       # published by hand: the job leaves the week alone
    assert [r for r in await chat.tick(sh("2026-12-06T20:00:01")) if r.get("room")] == []
    assert [r for r in await chat.tick(sh("2026-12-13T20:00:01")) if r.get("room")] == []   # an empty week
    assert len(issues(chat)) == 2


async def test_publishing_survives_a_restart_exactly_once(chat):
    await a_week(chat)
    await draft(chat)
    await chat.say("/周报 发布", "u3", drain=False)
    await chat.driver.restart(WED + timedelta(minutes=5))
    await chat.flush()
    await chat.tick(sh("2026-11-29T20:00:01"))            # the job finds the week published
    assert len(issues(chat)) == 1
    async with chat.app.sessions() as db:
        assert [(d.number, d.auto) for d in await db.scalars(select(Digest))] == [(1, False)]


async def test_a_long_digest_is_posted_in_parts_within_the_platform_limit(make_chat):
    chat = await make_chat(moderators=["u3"], top_pacing={"max_chars": 200})
    await a_week(chat)
    await draft(chat)
    before = len(chat.sent)
    await chat.say("/周报 发布", "u3")
    parts = [r["text"] for r in chat.sent[before:] if r.get("room") == "r1"]
    assert len(parts) > 1 and all(len(p) <= 200 for p in parts)
    assert parts[0].startswith("📰 增长学习社 周报 第 1 期")


async def test_where_the_bot_sees_only_mentions_the_digest_says_so_and_asks_to_be_messaged(make_chat):
    chat = await make_chat(moderators=["u3"],
                           capabilities=ALL_CAPABILITIES - {Capability.SEES_ALL_MESSAGES, Capability.CAN_DM})
    await chat.say("/提问 怎么做用户增长\n背景", "u1")
    assert await draft(chat) == [to("王五", "草稿已生成，但我不能主动私聊你：请私聊我发送 /周报 获取草稿。")]
    [private] = await chat.dm("/周报", "u3")
    assert private.split("\n")[1] == ("【1】ℹ️ 在这个平台上我只能看到 @我 的消息，群聊部分无法整理；本期由问答和我看到的消息整理。")
    assert "【2】❓ Q1「怎么做用户增长」（提问：张三）" in private


async def test_a_pick_scores_in_its_week_and_the_totals_keep_equalling_a_recount(chat):
    await a_week(chat)
    await draft(chat)
    await chat.say("/周报 选 A1", "u3")
    await chat.tick(sh("2026-11-30T08:00:00"))            # the week is paid and frozen with the pick
    stored, recount = await totals_and_recount(chat)
    assert stored == recount and any(s[3] == 1 for s in stored.values())
    await chat.say("/隐藏 A1", "u3", at=sh("2026-12-01T10:00:00"))
    stored, recount = await totals_and_recount(chat)
    assert stored == recount and not any(s[3] for s in stored.values())
    await chat.say("/取消隐藏 A1", "u3")
    stored, recount = await totals_and_recount(chat)
    assert stored == recount and any(s[3] == 1 for s in stored.values())


async def test_two_moderators_editing_one_draft_see_each_others_changes(make_chat):
    chat = await make_chat(moderators=["u3", "u2"])
    await a_week(chat)
    await draft(chat)
    assert await chat.dm("/周报 删 2", "u3") == ["已从草稿删掉第 2 节。发送 /周报 再看草稿，/周报 发布 发布。"]
    assert await chat.say("/digest drop 2", "u2") == [to("李四", "第 2 节已经删掉了。")]
    assert await chat.say("/周报 改 2 李四补充的讨论总结", "u2") == [to("李四", "已改写草稿第 2 节。发送 /周报 再看草稿，/周报 发布 发布。")]
    [posted] = await chat.say("/周报 发布", "u2")
    assert "李四补充的讨论总结" in posted and "💬" not in posted


async def test_members_see_the_verbs_they_may_use_in_help(chat):
    [listing] = await chat.say("/帮助", "u1")
    assert "/周报 列表 /digest list — 已发布的周报" in listing
    assert "/周报 期 /digest no — 重看某一期周报" in listing and "/周报 /digest —" not in listing
    [moderator] = await chat.say("/帮助", "u3")
    assert "/周报 /digest — 把本群本周的讨论整理成周报草稿" in moderator


async def test_an_english_community_reads_its_digest_in_english(make_chat):
    chat = await make_chat(moderators=["u3"], locale="en")
    await a_week(chat)
    [private, note] = await chat.say("/digest", "u3", at=WED)
    assert note == to("王五", "I've sent you the digest draft in private.")
    assert private.split("\n")[:2] == ["📝 Digest draft · 增长学习社 · 11/23–11/29 (as of Thu 11/26 10:00)",
                                       '[1] ❓ Q1 "怎么做用户增长" asked by 张三']
    [posted] = await chat.say("/digest publish", "u3")
    assert posted.startswith("📰 增长学习社 digest, issue 1 · 11/23–11/29")
    assert await chat.say("/digest list", "u1") == ["📚 Published digests:\nIssue 1 · 11/23–11/29 · published 11/26\n"
                                                 "Read one again: /digest <issue>"]


async def test_the_weekly_job_leaves_a_moderators_span_draft_alone(chat):
    """A moderator writing up a guest talk (a span) when the week's digest falls due: the week goes out compiled
    beside it, and their draft, edits and all, is still theirs to publish."""
    await a_week(chat)
    for i, (user, text) in enumerate([("u1", "嘉宾讲的社群冷启动很实用"), ("u2", "冷启动先找种子用户"),
                                      ("u1", "种子用户从老客户里找")]):
        await chat.say(text, user, at=sh("2026-11-29T17:00:00") + timedelta(minutes=i))
    [span, _] = await chat.say("/周报 3小时", "u3", at=sh("2026-11-29T19:00:00"))
    await chat.dm("/周报 删 2", "u3")
    sent = await chat.tick(sh("2026-11-29T20:00:01"))
    [auto] = [r["text"] for r in sent if r.get("room") == "r1"]
    assert auto.startswith("📰 增长学习社 周报 第 1 期 · 11.23–11.29") and "example.org" in auto
    assert "种子用户" in auto                                # the week has the talk's chat too
    assert (await chat.dm("/周报 发布", "u3"))[-1] == "已发布第 2 期周报。"
    second = issues(chat)[1]
    assert second.startswith("📰 增长学习社 周报 第 2 期 · 11.29（周日）16:00 至 11.29（周日）19:00"), second
    assert "种子用户" in second and "关键词" not in second    # the moderator's edit stands
