"""Tiers of groups: features per tier, promotion, and groups enabled as copies of a template."""
from sqlalchemy import select

from bot.adapters.recording import ALL_CAPABILITIES
from bot.events import Capability
from handlers.tiers import groups_with_tiers
from models import Group, Promotion
from tests.conftest import sh, to

TIERS = [
    {"name": "引流群", "aliases": ["entry"], "features": ["welcome", "directory", "questions", "sessions"],
     "rules": ["先登记再提问"], "invitation": "添加群主微信 qun-owner"},
    {"name": "核心群", "aliases": ["core"]},
]
GROUPS = [{"room": "r1", "name": "1群", "tier": "引流群"}]


async def tiered(make_chat, **kw):
    return await make_chat(tiers=TIERS, groups=GROUPS, **kw)


async def test_a_feature_the_tier_leaves_out_is_refused_naming_the_tier(make_chat):
    chat = await tiered(make_chat)
    assert await chat.say("/打赏 @李四 5", "u1", mentions=["u2"]) == [to("u1", "本群是「引流群」，没有开通 /打赏。")]
    assert await chat.say("/fund", "u1") == [to("u1", "本群是「引流群」，没有开通 /fund。")]
    assert (await chat.say("/找人 增长", "u1"))[0].startswith(to("u1", "名录里没有找到"))
    # In private chat nothing is a group's: the fund is there.
    assert not (await chat.dm("/基金", "u1"))[0].startswith("本群是")


async def test_help_in_a_tiered_group_lists_only_what_runs_there(make_chat):
    chat = await tiered(make_chat)
    [listing] = await chat.say("/帮助", "u1")
    assert "/找人" in listing and "/提问" in listing
    assert "/打赏" not in listing and "/基金" not in listing
    [private] = await chat.dm("/帮助", "u1")
    assert "/打赏" in private


async def test_the_tiers_rules_are_in_the_welcome_and_its_left_out_posts_skip_the_group(make_chat):
    tiers = [*TIERS[:1], {"name": "核心群", "features": ["directory", "tips"]}]
    chat = await make_chat(tiers=tiers, groups=[*GROUPS, {"room": "r2", "name": "核心1群", "tier": "核心群"}])
    await chat.members("r2", ["u_owner", "u1"])
    await chat.join("u4")
    await chat.join("u4", room="r2")
    await chat.tick(sh("2026-11-23T10:00:00"))
    welcomes = [(r["room"], r["text"]) for r in chat.sent if r.get("text", "").startswith("欢迎")]
    assert [room for room, _ in welcomes] == ["r1"]                # the core tier runs no welcome
    assert "群规（随时发送 /群规 查看）：\n1. 先登记再提问\n" in welcomes[0][1]
    posted = await chat.tick(sh("2026-11-30T10:00:01"))          # Monday: last week's newcomers
    assert [r["room"] for r in posted if r.get("text", "").startswith("上周新成员")] == ["r1"]


async def test_an_owner_promotes_a_member_and_they_are_sent_how_to_join(make_chat):
    chat = await tiered(make_chat)
    assert await chat.say("/晋升 @李四 core", "u_owner", mentions=["u2"]) == [
        "已记录：李四 晋升到「核心群」，入群方式已私聊发给对方。",
        "恭喜！你在「增长学习社」晋升到了「核心群」。\n入群方式：请联系群主，把你拉进：核心群"]
    assert chat.sent[-1]["user"] == "u2"
    assert await chat.say("/晋升 @李四 核心群", "u_owner", mentions=["u2"]) == [
        to("u_owner", "李四 已经晋升过「核心群」了。")]
    async with chat.app.sessions() as db:
        assert [(p.tier, p.promoted_by) for p in await db.scalars(select(Promotion))] == [("核心群", "u_owner")]


async def test_a_promotion_to_a_tier_that_does_not_exist_or_by_a_member_is_refused(make_chat):
    chat = await tiered(make_chat)
    assert await chat.say("/晋升 @李四 VIP群", "u_owner", mentions=["u2"]) == [
        to("u_owner", "没有「VIP群」这个分层。可用的分层：引流群、核心群")]
    assert await chat.say("/晋升 @李四", "u_owner", mentions=["u2"]) == [
        to("u_owner", "用法：/晋升 @成员 分层名（可用的分层：引流群、核心群）")]
    assert await chat.say("/晋升 @李四 核心群", "u1", mentions=["u2"]) == [to("u1", "这个命令需要「群主」权限。")]
    async with chat.app.sessions() as db:
        assert list(await db.scalars(select(Promotion))) == []


async def test_where_the_bot_cannot_message_privately_the_instructions_go_in_the_group(make_chat):
    chat = await tiered(make_chat, capabilities=ALL_CAPABILITIES - {Capability.CAN_DM})
    assert await chat.say("/晋升 @李四 引流群", "u_owner", mentions=["u2"]) == [
        "已记录：李四 晋升到「引流群」。\n入群方式：添加群主微信 qun-owner\n（这个平台不能主动私聊成员，请对方留意这条消息。）"]


async def test_a_new_group_copies_a_template_groups_tier(make_chat):
    chat = await tiered(make_chat)
    assert await chat.say("/启用 模板 2群", "u_owner", room="r9") == [
        "没有叫「2群」的群可以当模板。可用的群：1群\n用法：/启用 模板 群名"]
    assert await chat.say("/帮助", "u1", room="r9") == []           # still not served
    [ok] = await chat.say("/启用 模板 1群", "u_owner", room="r9")
    assert ok.startswith("已启用：本群现在属于「增长学习社」，照「1群」的样子运行（分层：引流群；")
    await chat.members("r9", ["u_owner", "u1", "u2"])
    assert await chat.say("/打赏 @李四 5", "u1", room="r9", mentions=["u2"]) == [
        to("u1", "本群是「引流群」，没有开通 /打赏。")]
    assert (await chat.say("/分层", "u_owner"))[0] == (
        "「增长学习社」的群和分层：\n• 1群：引流群（welcome、directory、questions、sessions）\n"
        "• r9：引流群（welcome、directory、questions、sessions）\n可用的分层：引流群、核心群")
    async with chat.app.sessions() as db:
        ctx = await chat.app.runtime.context(db, "growth", cause="test")
        assert [(g.room_id, t.name if t else None) for g, t in await groups_with_tiers(ctx)] == [
            ("r1", "引流群"), ("r9", "引流群")]
        assert (await db.get(Group, "r9")).tier == "引流群"


async def test_a_group_enabled_without_a_template_has_no_tier(make_chat):
    chat = await tiered(make_chat)
    await chat.say("/启用", "u_owner", room="r9")
    await chat.members("r9", ["u_owner", "u1", "u2"])
    assert (await chat.say("/打赏 @李四 5", "u1", room="r9", mentions=["u2"]))[0].startswith("张三 打赏了 @李四 5 分")


def test_a_group_naming_an_unknown_tier_is_a_config_error():
    import pytest

    from bot.config import ConfigError
    from tests.conftest import make_config

    with pytest.raises(ConfigError, match="tier 'VIP' is not among the community's tiers"):
        make_config(tiers=TIERS, groups=[{"room": "r1", "tier": "VIP"}])
    with pytest.raises(ConfigError, match="unknown feature 'tipping'"):
        make_config(tiers=[{"name": "x", "features": ["tipping"]}])
