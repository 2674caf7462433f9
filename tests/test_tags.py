"""Tags: moderators' tags and tags derived from profiles, found with /找人 #标签."""
from sqlalchemy import select

from models import MemberTag
from tests.conftest import to


async def tags_in_db(chat) -> list[tuple[int, str]]:
    async with chat.app.sessions() as db:
        return [(t.member_id, t.tag) for t in await db.scalars(select(MemberTag).order_by(MemberTag.tag))]


async def test_a_moderators_tag_and_a_profile_tag_are_both_found_with_a_hash(make_chat):
    chat = await make_chat(moderators=["u3"])
    await chat.signup("u1", "擅长=私域运营; 行业=教育")
    assert await chat.say("/标签 @李四 私域 #增长", "u3", mentions=["u2"]) == ["已给 李四 加上标签：#私域 #增长"]
    # A profile's whole items first, then its jieba words; a moderator's tags before the profile's.
    assert await chat.say("/找人 #私域", "u_owner") == [
        "带 #私域 的成员共 2 位：\n1. 张三 — #教育 #私域运营 #私域 #运营\n2. 李四 — #增长 #私域"]
    assert await chat.say("/who #增长", "u1") == ["带 #增长 的成员共 1 位：\n1. 李四 — #增长 #私域"]
    assert await chat.say("/找人 ＃教育", "u2") == ["带 #教育 的成员共 1 位：\n1. 张三 — #教育 #私域运营 #私域 #运营"]


async def test_the_profile_card_shows_the_moderators_tags(make_chat):
    chat = await make_chat(moderators=["u3"])
    await chat.signup("u2", "城市=上海")
    await chat.say("/tag @李四 growth", "u3", mentions=["u2"])
    [card] = await chat.say("/找人 @李四", "u1", mentions=["u2"])
    assert card.endswith("\n标签：#growth")
    assert await chat.say("/标签 @李四", "u3", mentions=["u2"]) == ["李四 的标签：#growth"]


async def test_a_tag_can_be_taken_back_and_then_nobody_has_it(make_chat):
    chat = await make_chat(moderators=["u3"])
    await chat.say("/标签 @李四 增长", "u3", mentions=["u2"])
    assert await chat.say("/标签 删 @李四 增长", "u3", mentions=["u2"]) == ["已去掉 李四 的标签 #增长。"]
    assert await chat.say("/找人 #增长", "u1") == [
        to("u1", "还没有人带 #增长 这个标签。换个标签试试，或者 /找人 关键词。")]
    assert await chat.say("/标签 删 @李四 增长", "u3", mentions=["u2"]) == [
        to("u3", "李四 没有版主打的 #增长 标签（资料里带出的标签请对方改资料）。")]


async def test_empty_or_too_long_tags_are_refused_and_change_nothing(make_chat):
    chat = await make_chat(moderators=["u3"])
    assert await chat.say("/标签 @李四 #", "u3", mentions=["u2"]) == [to("u3", "标签不能为空，例如 /标签 @张三 增长。")]
    long = "增" * 21
    assert await chat.say(f"/标签 @李四 好 {long}", "u3", mentions=["u2"]) == [
        to("u3", f"标签「{'增' * 20}」太长了：最多 20 个字，中间不能有空格。")]
    assert await chat.say("/找人 #", "u1") == [to("u1", "标签不能为空，例如 /标签 @张三 增长。")]
    assert await tags_in_db(chat) == []


async def test_only_moderators_tag_and_a_tag_is_given_once(make_chat):
    chat = await make_chat(moderators=["u3"])
    assert await chat.say("/标签 @李四 增长", "u1", mentions=["u2"]) == [to("u1", "这个命令需要「版主」权限。")]
    await chat.say("/标签 @李四 增长", "u3", mentions=["u2"])
    assert await chat.say("/标签 @李四 增长", "u3", mentions=["u2"]) == [to("u3", "李四 已经有 #增长 了。")]
    assert len(await tags_in_db(chat)) == 1


async def test_deleting_ones_data_deletes_ones_tags(make_chat):
    chat = await make_chat(moderators=["u3"])
    await chat.say("/标签 @李四 增长", "u3", mentions=["u2"])
    await chat.say("/资料 删除 确认", "u2")
    assert await tags_in_db(chat) == []


async def test_help_lists_the_tag_verbs_for_moderators(make_chat):
    chat = await make_chat(moderators=["u3"])
    [help] = await chat.say("/帮助 标签", "u3")
    assert help.endswith("子命令：\n/标签 删 /tag remove — 去掉版主打的一个标签（版主）")
