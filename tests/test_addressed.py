"""In a busy group a reply about one member says whom it is for: it starts by @-mentioning them and carries their
mention id (so Wechaty mentions them for real); in private chat there is nobody else to tell apart."""
from datetime import timedelta

import pytest

from tests.conftest import NAMES

# What a member types in the group, and the start of the reply meant for them.
ABOUT_THE_SENDER = [
    ("/打赏 @李四 180", ["u2"], "180 分超过了每周额度"),
    ("/打赏 @张三 5", ["u1"], "不能给自己打赏"),
    ("/积分", [], "本周还能打赏 100/100 分"),
    ("/打赏", [], "用法：/打赏"),
    ("/找人", [], "用法"),
    ("/没有这个命令", [], "没有 /没有这个命令 这个命令"),
    ("/资料", [], "你还没有登记资料"),
    ("/登记 城市=北京", [], "请确认你的资料"),
    ("/基金 入账 200 入群费", [], "这个命令需要「"),
]


@pytest.mark.parametrize(("text", "mentions", "start"), ABOUT_THE_SENDER)
async def test_in_a_group_a_reply_about_the_sender_mentions_them_first(chat, text, mentions, start):
    [reply] = await chat.say(text, "u1", mentions=mentions)
    assert reply.startswith(f"@{NAMES['u1']} {start}"), reply
    row = chat.sent[-1]
    assert row["room"] == "r1" and row["mentions"][0] == "u1"


@pytest.mark.parametrize(("text", "mentions", "start"), [case for case in ABOUT_THE_SENDER if "@" not in case[0]])
async def test_in_private_the_same_reply_has_no_mention(chat, text, mentions, start):
    [reply] = await chat.dm(text, "u1")
    assert reply.startswith(start), reply
    assert not chat.sent[-1].get("mentions")


async def test_the_rate_limit_notice_mentions_the_sender_once(chat):
    replies = []
    for _ in range(30):
        replies += await chat.say("/积分", "u2", step=timedelta(seconds=0.1))
    notices = [r for r in replies if "命令发得太快了" in r]
    assert notices == [f"@{NAMES['u2']} 命令发得太快了，请稍等半分钟再试。"]


async def test_a_reply_for_everyone_is_not_addressed(chat):
    """A listing or an announcement is for the whole group: no leading mention."""
    [listing] = await chat.say("/帮助", "u1")
    assert not listing.startswith("@")
    [tip] = await chat.say("/打赏 @李四 10 谢谢", "u1", mentions=["u2"])
    assert tip.startswith("张三 打赏了 @李四 10 分")
