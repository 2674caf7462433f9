"""/我 (/whoami): the ids config.yaml needs. A user id is the sender's alone (shown in private); a group's id is
shown in the group, served or not yet."""
import pytest

from bot.adapters.base import Capability
from bot.adapters.recording import ALL_CAPABILITIES

USER_U1 = "你的用户 ID：u1\n（config.yaml 里的 owners、moderators、treasurers 填的就是这个 ID）"
GROUP_R1 = "本群 ID：r1\n（config.yaml 里 groups 下的 room 填它：- room: r1）"


async def test_in_private_it_shows_your_user_id(chat):
    assert await chat.dm("/我", "u1") == [USER_U1]


async def test_in_a_group_it_names_the_group_and_sends_your_user_id_in_private(chat):
    assert await chat.say("/whoami", "u1") == [f"@张三 {GROUP_R1}\n你的用户 ID 已私聊发给你。", USER_U1]
    group_reply, private = chat.sent[-2:]
    assert group_reply["room"] == "r1" and group_reply["mentions"] == ["u1"]
    assert private.get("room") is None and private["user"] == "u1"
    assert "u1" not in group_reply["text"].replace("@张三", "")           # the user id stays out of the group


async def test_where_the_bot_cannot_write_in_private_the_group_is_told_to_ask_there(make_chat):
    c = await make_chat(capabilities=ALL_CAPABILITIES - {Capability.CAN_DM})
    assert await c.say("/我", "u1") == [f"@张三 {GROUP_R1}\n你的用户 ID 不在群里显示：私聊我发送 /我 查看。"]
    assert await c.dm("/我", "u1") == [USER_U1]


async def test_someone_in_no_community_yet_gets_their_user_id_in_private(chat):
    """Whoever deploys the bot needs their id before config.yaml can make them an owner."""
    assert await chat.dm("/whoami", "stranger") == [
        "你的用户 ID：stranger\n（config.yaml 里的 owners、moderators、treasurers 填的就是这个 ID）"]
    assert (await chat.dm("/积分", "stranger"))[0].startswith("你还不是任何社群的成员")


async def test_in_a_group_the_bot_does_not_serve_it_names_the_group_and_how_to_serve_it(chat):
    assert await chat.say("/我", "u9", name="路人", room="r9") == [
        "@路人 本群 ID：r9\n（config.yaml 里 groups 下的 room 填它：- room: r9）\n"
        "本群还没有启用：把它加到 config.yaml 的 groups 下并重启，或由群主在群里发 /启用。\n"
        "你的用户 ID 不在群里显示：私聊我发送 /我 查看。"]
    assert await chat.say("/积分", "u9", name="路人", room="r9") == []       # other commands stay unanswered there


async def test_enabling_a_group_names_its_id(chat):
    assert await chat.say("/启用", "u_owner", room="r2") == [
        "已启用：本群现在属于「增长学习社」。发送 /帮助 查看命令。\n本群 ID：r2（想写进 config.yaml 时，填在 groups 下：- room: r2）"]


@pytest.mark.parametrize("text", ["/whoami", "/我是谁"])
async def test_english_community(make_chat, text):
    c = await make_chat(locale="en")
    assert await c.dm(text, "u1") == [
        "Your user ID: u1\n(this is the ID that goes into owners, moderators or treasurers in config.yaml)"]
