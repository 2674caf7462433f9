"""Who may do what: the role matrix, group-only and private-only commands, non-members, enabling groups."""
import logging

import pytest

from bot.app import ROUTERS
from bot.roles import Role
from tests.conftest import to, two_communities

FORBIDDEN_OWNER = "这个命令需要「群主」权限。"


def owner_commands():
    return sorted(spec.name for r in ROUTERS for spec in r.commands if spec.role is Role.OWNER)


@pytest.mark.parametrize("command", owner_commands())
async def test_owner_commands_are_refused_to_members(chat, command):
    assert await chat.say(f"/{command} @王五 版主", "u1", mentions=["u3"]) == [to('u1', FORBIDDEN_OWNER)]


async def test_appoint_and_dismiss_a_moderator(chat):
    assert await chat.say("/任命 @张三 版主", "u_owner", mentions=["u1"]) == ["已任命 @张三 为版主。"]
    assert chat.sent[-1]["mentions"] == ["u1"]
    roles = await chat.say("/角色", "u2")
    assert "版主：张三" in roles[0] and "群主：老王" in roles[0]
    assert await chat.say("/appoint @张三 moderator", "u_owner", mentions=["u1"]) == [to('u_owner', "张三 已经是版主了。")]
    assert await chat.say("/免职 @张三 版主", "u_owner", mentions=["u1"]) == ["已撤销 @张三 的版主身份。"]
    assert await chat.say("/免职 @张三 版主", "u_owner", mentions=["u1"]) == [to('u_owner', "张三 不是版主。")]
    assert "版主：（暂无）" in (await chat.say("/roles", "u2"))[0]


async def test_an_appointed_owner_may_appoint(chat):
    await chat.say("/任命 @张三 群主", "u_owner", mentions=["u1"])
    assert await chat.say("/任命 @李四 财务", "u1", mentions=["u2"]) == ["已任命 @李四 为财务。"]


async def test_config_roles_cannot_be_dismissed_from_chat(make_chat):
    c = await make_chat(moderators=["u2"])
    assert await c.say("/免职 @李四 版主", "u_owner", mentions=["u2"]) == [
        "@老王 李四 的版主身份写在 config.yaml 里，请在配置文件中修改。"]


@pytest.mark.parametrize("text, mentions, reply", [
    ("/任命 @张三", ["u1"], "用法：/任命 @成员 版主|财务|群主"),
    ("/任命 版主", [], "用法：/任命 @成员 版主|财务|群主"),
    ("/任命 @张三 国王", ["u1"], "没有「国王」这个角色，可选：版主、财务、群主。"),
    ("/任命 @路人 版主", ["u9"], "群里没有「路人」。"),
    ("/任命 @路人 版主", [], "群里没有「路人」。"),
])
async def test_appoint_bad_input(chat, text, mentions, reply):
    assert await chat.say(text, "u_owner", mentions=mentions) == [to('u_owner', reply)]
    assert "版主：（暂无）" in (await chat.say("/roles", "u2"))[0]


async def test_private_message_from_a_stranger(chat):
    assert await chat.dm("/help", "stranger") == [
        "你还不是任何社群的成员。请先在社群的群聊里说句话或发送 /help，再来私聊我。"]
    assert await chat.dm("你好", "stranger") == []


async def test_group_only_command_in_private_chat(chat):
    assert await chat.dm("/停用", "u_owner") == ["/disable 只能在群里使用。"]


async def test_private_only_command_in_a_group(chat):
    assert await chat.say("/切换 growth", "u1") == [to('u1', "/use 只能在私聊里使用。")]


async def test_messages_in_rooms_not_served_are_ignored(chat):
    assert await chat.say("/help", "u1", room="r_other") == []
    assert await chat.say("/启用", "u1", room="r_other") == []


async def test_a_room_not_served_is_logged_once_with_how_to_serve_it(chat, caplog):
    with caplog.at_level(logging.INFO, logger="qunbot.dispatch"):
        assert await chat.say("大家好", "u1", room="r_other") == []
        assert await chat.say("/help", "u2", room="r_other") == []
        assert await chat.say("/积分", "u1", room="r_third") == []
        assert await chat.say("/help", "u1", room="r_third") == []
        assert await chat.say("/help", "u1") != []                  # a served room is not mentioned
    told = [r for r in caplog.records if r.name == "qunbot.dispatch" and "no community serves it" in r.getMessage()]
    assert [r.levelno for r in told] == [logging.INFO, logging.INFO]
    assert told[0].getMessage() == (
        "ignoring messages in room r_other: no community serves it (logged once per room). To serve it, add "
        "`- room: r_other` under a community's groups: in the config file and restart, or have an owner send "
        "/启用 (/enable) in that room")
    assert "ignoring messages in room r_third" in told[1].getMessage()


async def test_owner_enables_a_new_group_from_chat(chat):
    assert (await chat.say("/启用", "u_owner", room="r2"))[0].startswith("已启用：本群现在属于「增长学习社」。发送 /帮助 查看命令。\n本群 ID：r2")
    assert await chat.say("/启用", "u_owner", room="r2") == [to('u_owner', "本群已经由「增长学习社」启用。")]
    replies = await chat.say("/help", "u4", room="r2", name="赵六")
    assert len(replies) == 1 and "增长学习社" in replies[0]
    assert await chat.say("/停用", "u_owner", room="r2") == [
        "已停用：之后本群的消息我都不再处理。群主可随时发 /启用 恢复。"]
    assert await chat.say("/help", "u4", room="r2") == []


async def test_config_groups_are_not_disabled_from_chat(chat):
    assert await chat.say("/停用", "u_owner") == [to('u_owner', "本群写在 config.yaml 里，请在配置文件中移除后重启。")]


async def test_help_lists_only_what_the_member_may_use(chat):
    member = (await chat.say("/help", "u1"))[0]
    owner = (await chat.say("/help", "u_owner"))[0]
    assert "/任命" not in member and "/任命 /appoint" in owner
    assert "/登记 /signup" in member



async def test_member_of_two_communities_chooses_in_private(db_url):
    c = await two_communities(db_url)
    asked = await c.dm("/资料", "u1")
    assert "你在多个社群里" in asked[0] and "growth：增长学习社" in asked[0] and "design：设计社" in asked[0]
    assert await c.dm("/切换 design", "u1") == ["好的，之后的私聊命令都针对「设计社」。随时可用 /切换 更换。"]
    assert await c.dm("/roles", "u1") == ["「设计社」的管理角色：\n群主：老王\n财务：（暂无）\n版主：（暂无）"]
    assert "你在多个社群里" in (await c.dm("/切换 nope", "u1"))[0]
    await c.close()


async def test_the_question_which_community_is_in_one_language_whichever_group_the_member_spoke_in(db_url):
    """The language of the first community by id, not of whichever membership row the database returns first."""
    from bot.config import parse_config
    from tests.conftest import Chat

    config = parse_config({"communities": [
        {"id": "growth", "name": "增长学习社", "owners": ["u_owner"], "groups": [{"room": "r1"}]},
        {"id": "design", "name": "Design Club", "owners": ["u_owner"], "groups": [{"room": "r2"}], "locale": "en"},
    ]}, env={})
    c = Chat(config, db_url)
    await c.start()
    await c.members("r2", ["u_owner", "u1"])
    for room in ("r1", "r2", "r1"):
        await c.say("大家好", "u1", room=room)          # each message updates that membership's row
        asked = await c.dm("/profile", "u1")
        assert asked == ["You're in several communities. Please choose which one this private chat is for by sending "
                         "/use <community ID>:\ndesign: Design Club\ngrowth：增长学习社"]
    await c.close()


async def test_plain_private_message_gets_a_hint(chat):
    assert await chat.dm("你好", "u1") == [
        "我是「增长学习社」的群助手。发送 /帮助 查看命令，发送 /登记 登记资料，发送 /找人 关键词 找人。"]


async def test_enable_with_a_community_the_owner_does_not_own(chat):
    assert await chat.say("/启用 design", "u_owner", room="r2") == [
        "你管理多个社群，请指明这个群属于哪个：发送 /启用 <社群ID>\ngrowth：增长学习社"]
    assert await chat.say("/help", "u1", room="r2") == []


async def test_private_signup_answers_reach_the_right_community(db_url):
    """A member of two communities answers the private signup questions without being asked which one."""
    c = await two_communities(db_url)
    await c.say("/登记", "u1", room="r2")
    assert (await c.dm("北京", "u1"))[0].startswith("（2/9）你的职位？")
    await c.close()


async def test_groups_and_communities_removed_from_config_are_no_longer_served(db_url):
    from bot.config import parse_config
    from tests.conftest import Chat

    both = parse_config({"communities": [
        {"id": "growth", "name": "增长学习社", "owners": ["u_owner"], "groups": [{"room": "r1"}, {"room": "r2"}]},
        {"id": "design", "name": "设计社", "owners": ["u_owner"], "groups": [{"room": "r3"}]},
    ]}, env={})
    c = Chat(both, db_url)
    await c.start()
    await c.members("r3", ["u_owner", "u1"])
    assert len(await c.say("/help", "u1", room="r2")) == 1
    assert len(await c.say("/help", "u1", room="r3")) == 1
    await c.close()

    only_r1 = parse_config({"communities": [
        {"id": "growth", "name": "增长学习社", "owners": ["u_owner"], "groups": [{"room": "r1"}]},
    ]}, env={})
    c = Chat(only_r1, db_url)
    c._n = 1000                                             # event ids of the first run are taken
    await c.start(members=())
    assert await c.say("/help", "u1", room="r2") == []      # removed group
    assert await c.say("/help", "u1", room="r3") == []      # removed community: ignored, nothing raised
    assert len(await c.say("/help", "u1", room="r1")) == 1
    assert (await c.dm("/roles", "u1"))[0].startswith("「增长学习社」的管理角色")   # no longer asked which
    await c.close()


async def test_a_role_granted_by_another_process_is_seen_once_the_cache_ages_on_the_bots_clock(chat):
    """Cached roles expire on the bot's clock (simulated here), not on the wall clock."""
    from datetime import timedelta

    from models import RoleGrant

    await chat.say("/提问 怎么做增长\n背景", "u1")
    assert await chat.say("/隐藏 Q1", "u2") == [to('u2', "这个命令需要「版主」权限。")]          # roles cached now
    async with chat.app.sessions.begin() as db:                                     # another bot process appoints
        db.add(RoleGrant(community_id="growth", user_id="u2", role="moderator", granted_by="u_owner",
                         granted_at=chat.clock.now()))
    assert await chat.say("/隐藏 Q1", "u2", step=timedelta(seconds=5)) == [to('u2', "这个命令需要「版主」权限。")]
    [hidden] = await chat.say("/隐藏 Q1", "u2", step=timedelta(seconds=31))
    assert hidden.startswith("Q1 已隐藏")
