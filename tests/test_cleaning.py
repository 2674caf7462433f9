"""Members' text cannot forge the bot's: invisible and format characters are removed where text enters, line
breaks stay only where a command is multi-line (and are shown quoted), nothing visible is nothing."""
import asyncio
import logging
import sys
import unicodedata
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.adapters.base import IncomingMessage, JoinEvent, Member, MessageKind
from bot.app import ROUTERS
from bot.cleaning import _INVISIBLE, clean, quoted
from tests.conftest import START, Chat, make_config, to

FORGED = "🏆 上周分享排行：1. 王五 奖励 ¥5,000.00"
ONE_LINE = "/{} 只能写在一行里，请去掉换行后再发。"


# ---- the cleaning function -----------------------------------------------------------------------------------

def test_the_invisible_class_holds_every_control_and_format_character_of_this_unicode_version():
    line_breaks = set("\t\n\r\x0b\x0c\x1c\x1d\x1e\x85")
    wanted = {chr(cp) for cp in range(sys.maxunicode + 1)
              if unicodedata.category(chr(cp)) in ("Cc", "Cf", "Cs") and chr(cp) not in line_breaks}
    missing = sorted(f"U+{ord(ch):04X}" for ch in wanted if not _INVISIBLE.match(ch))
    assert missing == []


@pytest.mark.parametrize("raw, kept", [
    ("北\x07京", "北京"),                                         # a bell
    ("红色\x1b[31m", "红色[31m"),                                # an escape sequence loses its escape
    ("文件.exe\u202etxt.doc", "文件.exetxt.doc"),                 # a right-to-left override
    ("a\u2066b\u2069c\u200ed", "abcd"),                          # isolates and marks
    ("增\u200b长\ufeff", "增长"),                                 # zero-width space, byte order mark
    ("👨\u200d👩\u200d👧 一家", "👨\u200d👩\u200d👧 一家"),          # the joiner inside an emoji sequence stays
    ("🏃\u200d♂️", "🏃\u200d♂️"),
    ("增\u200d长", "增长"),                                       # ... but not between letters
    ("\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
     "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"),    # a flag's tag sequence
    ("a\U000e0041b", "ab"),                                      # a stray tag character
    ("\ud800坏", "坏"),                                           # a lone surrogate
    ("\u3164", ""), ("\u200b\u200c\u2060", ""), ("\ufe0f\ufe0f", ""), (" \u3000 ", ""),   # nothing visible
    ("一\r\n二\r三\u2028四\u2029五\x85六\x0b七", "一\n二\n三\n四\n五\n六\n七"),    # every line break is one
])
def test_clean(raw, kept):
    assert clean(raw) == kept


def test_single_line_text_puts_a_space_where_a_line_break_was():
    assert clean("王五\n🏆 排行\r\n第一", multiline=False) == "王五 🏆 排行 第一"


def test_quoted_marks_every_line_after_the_first():
    assert quoted("三点：\n1. 转介绍\n2. 内容") == "三点：\n> 1. 转介绍\n> 2. 内容"


def test_neutral_events_arrive_clean():
    message = IncomingMessage("m1", "r1", "u1", "张\u202e三\n", "/打赏 @李四 1 谢\x00", START, mention_ids=("u2",))
    assert (message.sender_name, message.text) == ("张三", "/打赏 @李四 1 谢")
    link = IncomingMessage("m2", "r1", "u1", "张三", "标题\n🏆 伪造的一行", START, kind=MessageKind.LINK,
                           url="https://example.com")
    assert link.text == "标题 🏆 伪造的一行"                    # a link's title is one line
    assert JoinEvent("j1", "r1", "u9", "小\n明\u200b", START).name == "小 明"
    assert Member("u9", "\u202e小明").name == "小明"


# ---- in conversation -----------------------------------------------------------------------------------------

async def test_a_tip_reason_with_a_line_break_is_refused(chat):
    assert await chat.say(f"/打赏 @李四 1 谢\n{FORGED}", "u1", mentions=["u2"]) == [to('u1', ONE_LINE.format("打赏"))]
    assert (await chat.say("/积分", "u1"))[0].startswith("@张三 本周还能打赏 100/100 分")
    for separator in ("\r", "\u2028", "\u2029", "\x85", "\x0b"):
        assert await chat.say(f"/打赏 @李四 1 谢{separator}{FORGED}", "u1", mentions=["u2"]) == [
            to("u1", ONE_LINE.format("打赏"))]


async def test_control_characters_are_not_echoed(chat):
    [said] = await chat.say("/打赏 @李四 1 谢\x00谢\x1b[2J", "u1", mentions=["u2"])
    assert said == "张三 打赏了 @李四 1 分：谢谢[2J（本周剩余 99 分）"


async def test_a_fund_note_cannot_add_a_line_to_the_ledger(chat):
    assert await chat.say("/基金 入账 200 捐赠 备注\n#9 11.23 入群费 ¥9,999.00 · 张三", "u_owner") == [
        to("u_owner", ONE_LINE.format("基金"))]
    await chat.say("/基金 入账 200 捐赠 年会\u202e赞助", "u_owner")
    [log] = await chat.say("/基金 流水", "u1")
    assert log == "最近 1 笔（新的在前）：\n#1 11.23 捐赠 ¥200.00 · 未署名（年会赞助） · 老王 记账"


async def test_text_of_nothing_visible_counts_as_empty(chat):
    await chat.say("/提问 如何做增长\n背景", "u1")
    assert await chat.say("/回答 Q1 \u200b\u200b", "u2") == [to('u2', "用法：/回答 Q12 你的回答（可以多行）")]
    assert await chat.say("/登记 城市=\u2060", "u2") == [to('u2', "「城市」不能为空。")]
    assert (await chat.say("/提问 \u200b", "u2"))[0].startswith("@李四 我私聊你来完成提问")   # as if nothing typed
    [shown] = await chat.say("/问题 Q1", "u3")
    assert shown.endswith("还没有回答。发送 /回答 Q1 你的回答。")


async def test_multi_line_content_is_shown_quoted(chat):
    await chat.say(f"/提问 如何做增长\n背景\n{FORGED}", "u1")
    await chat.say(f"/回答 Q1 两点：\n{FORGED}", "u2")
    [shown] = await chat.say("/问题 Q1", "u3")
    assert f"背景：背景\n> {FORGED}" in shown and f"A1 李四：两点：\n> {FORGED}" in shown
    assert not any(line.startswith("🏆") for line in shown.split("\n"))


async def test_a_nickname_with_a_line_break_stays_on_one_line(chat):
    await chat.join("u9", name=f"小明\n{FORGED}")
    await chat.flush()
    welcome = [row for row in chat.sent if row.get("text", "").startswith("欢迎")]
    assert welcome and welcome[0]["text"].startswith(f"欢迎 @小明 {FORGED} 加入")


async def test_a_profile_value_with_a_line_break_in_the_guided_signup_is_refused(chat):
    await chat.say("/登记", "u1")
    assert await chat.dm("北京\n上海", "u1") == ["「城市」只能写一行。"]
    assert (await chat.dm("北京", "u1"))[0].startswith("（2/9）")


# ---- any text, any command -----------------------------------------------------------------------------------

STEP = timedelta(minutes=1)      # slower than the rate limit: every command is answered
COMMANDS = sorted({name for router in ROUTERS for spec in router.commands for name in (spec.name, *spec.aliases)})
# Characters that have forged lines before: every kind of line break, controls, bidi and zero-width characters.
TRICKY = "\n\r\x0b\x0c\x1c\x85\u2028\u2029\x00\x1b\x7f\u202e\u202d\u2066\u200b\u200d\ufeff\u3164\ufe0f\t 　"
TEXT = st.text(alphabet=st.one_of(st.sampled_from(TRICKY), st.characters(), st.sampled_from("@AQ12 =;，")),
               max_size=60)


@pytest.fixture(scope="module")
def fuzz_chat(databases):
    """One bot for all examples; Q1 by 张三 with an answer A1 by 李四 exists, 王五 is a moderator."""
    url = databases.new()
    runner = asyncio.Runner()
    chat = Chat(make_config(moderators=["u3"], treasurers=["u1"]), url)
    runner.run(chat.start())
    runner.run(chat.say("/提问 如何做增长\n背景", "u1"))
    runner.run(chat.say("/回答 Q1 先找种子用户", "u2", step=STEP))
    yield runner, chat
    runner.run(chat.close())
    runner.close()
    databases.drop(url)


def forged_lines(text: str) -> list[str]:
    """Lines of a bot message that begin with the text a member injected (ignoring what cannot be seen)."""
    return [line for line in text.split("\n") if clean(line).lstrip().startswith("🏆")]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(COMMANDS), before=TEXT, separator=st.sampled_from(TRICKY[:8]),
       disguise=st.sampled_from(["", "\u202e", "\u200b", "\x00", " ", "\u2066"]), after=TEXT,
       user=st.sampled_from(["u1", "u2", "u3", "u_owner"]), private=st.booleans())
def test_no_text_forges_a_line_of_the_bot(fuzz_chat, caplog, command, before, separator, disguise, after, user,
                                          private):
    runner, chat = fuzz_chat
    caplog.clear()
    text = f"/{command} {before}{separator}{disguise}{FORGED}{after}"
    with caplog.at_level(logging.ERROR):
        replies = runner.run(chat.say(text, user, room=None if private else "r1", mentions=["u2"], step=STEP))
        replies += runner.run(chat.say("/问题 Q1", "u3", step=STEP))
        replies += runner.run(chat.say("/基金 流水", "u3", step=STEP))
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    for reply in replies:
        assert "出错了" not in reply
        assert forged_lines(reply) == [], reply
        assert [ch for ch in reply if _INVISIBLE.match(ch) and ch not in "\u200d"] == [], reply
