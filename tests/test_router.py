"""What counts as a command, and that no text whatsoever breaks the router."""
import asyncio
import logging
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.router import parse_command
from tests.conftest import Chat, make_config, to


@pytest.mark.parametrize("text, name, args", [
    ("/help", "help", ""),
    ("／帮助", "帮助", ""),
    ("/who 增长 文案", "who", "增长 文案"),
    ("/WHO 增长", "who", "增长"),
    ("@群助手 /rank", "rank", ""),
    ("@Bot\u2005/找人 增长", "找人", "增长"),
    ("/ask 标题\n背景第一行\n第二行", "ask", "标题\n背景第一行\n第二行"),
    ("  /签到  ", "签到", ""),
])
def test_commands_are_recognised(text, name, args):
    parsed = parse_command(text)
    assert parsed is not None and (parsed.name, parsed.args) == (name, args)


@pytest.mark.parametrize("text", [
    "/::)", "/:rose", "/::D 哈哈", "/:handclap", "https://example.com/who", "/usr/bin/python", "看 /tmp/x.log",
    "我觉得 /help 不错", "/", "／", "/ help", "/123", "@张三 你好",
])
def test_ordinary_chat_is_not_a_command(text):
    assert parse_command(text) is None


async def test_emoji_codes_and_urls_get_no_reply(chat):
    for text in ("/::)", "/:rose", "https://example.com/who", "/usr/bin/env python"):
        assert await chat.say(text) == []


async def test_leading_bot_mention_is_stripped(chat):
    replies = await chat.say("@群助手 /help")
    assert len(replies) == 1 and "/找人 /who" in replies[0]


async def test_unknown_command_suggests_the_closest(chat):
    assert await chat.say("/sigup 城市=北京") == [to("u1", "没有 /sigup 这个命令，你是不是想用 /signup？发送 /帮助 查看全部命令。")]
    assert await chat.say("/xyzzy") == [to("u1", "没有 /xyzzy 这个命令。发送 /帮助 查看全部命令。")]


async def test_full_width_slash_and_chinese_alias(chat):
    replies = await chat.say("／帮助 找人")
    assert replies and replies[0].startswith("/找人 /谁懂 /who\n")


async def test_english_locale(make_chat):
    c = await make_chat(locale="en")
    replies = await c.say("/help")
    assert "/signup" in replies[0] and "登记个人资料" not in replies[0]
    assert await c.say("/xyzzy") == [to("u1", "There's no /xyzzy command. Send /help to see all commands.")]


STEP = timedelta(minutes=1)     # slower than the rate limit: every command is answered


@pytest.fixture(scope="module")
def fuzz_chat(databases):
    """One bot for all examples (starting one per example would dominate the run time)."""
    url = databases.new()
    runner = asyncio.Runner()
    chat = Chat(make_config(), url)
    runner.run(chat.start())
    yield runner, chat
    runner.run(chat.close())
    runner.close()
    databases.drop(url)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(
    st.text(max_size=200),
    st.builds(lambda cmd, rest: f"{cmd} {rest}", st.sampled_from(
        ["/signup", "/登记", "/who", "/找人", "/profile", "/资料", "/appoint", "/任命", "/dismiss", "/help",
         "/agree", "/cancel", "/enable", "/disable", "/roles", "/use", "／帮助", "@群助手 /who"]),
        st.text(max_size=120)),
), private=st.booleans(), mention=st.booleans())
def test_router_survives_any_text(fuzz_chat, caplog, text, private, mention):
    """Arbitrary text to the router: no exception escapes, no handler fails."""
    runner, chat = fuzz_chat
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        replies = runner.run(chat.say(text, "u2", room=None if private else "r1",
                                      mentions=["u3"] if mention else [], step=STEP))
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert all("出错了" not in r for r in replies)


async def test_typos_of_flow_commands_get_a_suggestion(chat):
    assert await chat.say("/agre") == [to("u1", "没有 /agre 这个命令，你是不是想用 /agree？发送 /帮助 查看全部命令。")]


async def test_help_names_a_command_in_the_community_s_language_first(make_chat):
    c = await make_chat(locale="en")
    assert (await c.say("/help 找人"))[0].startswith("/who /找人 /谁懂\n")
    assert (await c.say("/help fund paid"))[0].startswith("/fund paid /基金 已付 /基金 付款\n")
