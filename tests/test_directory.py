"""The directory: who knows what, one member's card, and who may see 姓名 and 公司."""
import pytest

from tests.conftest import to

NOT_FOUND = "名录里没有找到和「{}」相关的成员。换个说法试试，或者请大家 /登记 资料。"
HINT = "发送 /找人 @成员 查看完整资料。"
USAGE = "用法：/找人 关键词（例如 /找人 增长 文案），或 /找人 @成员 查看资料"


def ranked(reply: str) -> list[str]:
    """The names in a result list, in order."""
    return [line.split(". ", 1)[1].split("（")[0].split(" — ")[0]
            for line in reply.split("\n") if line[:1].isdigit()]


# ---- search and ranking ---------------------------------------------------------------------------------

# Member ids follow the roster order u_owner, u1, u2, u3; ties go to the lower id, so the member expected
# first is always the one with the higher id.

async def test_exact_skill_ranks_first(chat):
    await chat.signup("u1", "擅长=增长黑客; 城市=上海")
    await chat.signup("u2", "诉求=增长; 行业=电商")
    await chat.signup("u3", "擅长=增长, 文案; 职位=运营")
    [reply] = await chat.say("/who 增长", "u_owner")
    assert reply.startswith("找到 3 位和「增长」相关的成员：\n1. 王五（运营） — 擅长「增长」\n")
    assert "张三（上海） — 擅长「增长」" in reply
    assert "李四（电商） — 诉求「增长」" in reply
    assert reply.endswith(HINT)


async def test_exact_skill_beats_a_token_in_skills(chat):
    await chat.signup("u1", "擅长=增长黑客")
    await chat.signup("u2", "擅长=增长")
    assert ranked((await chat.say("/who 增长", "u3"))[0]) == ["李四", "张三"]


async def test_an_exact_item_beats_a_token_in_the_same_field(chat):
    await chat.signup("u1", "行业=增长黑客")
    await chat.signup("u2", "行业=增长")
    assert ranked((await chat.say("/who 增长", "u3"))[0]) == ["李四", "张三"]


async def test_exact_skill_beats_the_word_in_another_field(chat):
    await chat.signup("u1", "职位=增长")
    await chat.signup("u2", "行业=增长; 诉求=增长; 兴趣=增长")
    await chat.signup("u3", "擅长=增长")
    assert ranked((await chat.say("/who 增长", "u_owner"))[0])[0] == "王五"


async def test_jieba_finds_a_word_inside_a_skill(chat):
    await chat.signup("u2", "擅长=增长黑客")
    assert await chat.say("/who 增长", "u1") == [f"找到 1 位和「增长」相关的成员：\n1. 李四 — 擅长「增长」\n{HINT}"]
    assert "1. 李四 — 擅长「黑客」" in (await chat.say("/找人 黑客", "u1"))[0]
    assert "1. 李四 — 擅长「增长" in (await chat.say("/谁懂 增长黑客", "u1"))[0]


async def test_why_names_each_matching_field(chat):
    await chat.signup("u1", "擅长=文案; 兴趣=增长; 行业=教育")
    [reply] = await chat.say("/who 增长 文案", "u2")
    assert "1. 张三（教育） — 擅长「文案」，兴趣「增长」" in reply


async def test_multi_word_query_prefers_who_matches_every_word(chat):
    await chat.signup("u1", "擅长=增长")
    await chat.signup("u2", "兴趣=增长; 诉求=文案")
    await chat.signup("u3", "城市=北京")
    [reply] = await chat.say("/who 增长 文案", "u_owner")
    assert reply.startswith("找到 2 位和「增长 文案」相关的成员：")
    assert ranked(reply) == ["李四", "张三"]
    assert "王五" not in reply


async def test_search_ignores_case(chat):
    await chat.signup("u1", "擅长=SEO, Python")
    assert "1. 张三 — 擅长「seo」" in (await chat.say("/who seo", "u2"))[0]
    assert "1. 张三 — 擅长「python」" in (await chat.say("/who PYTHON", "u2"))[0]


async def test_no_result(chat):
    await chat.signup("u1", "擅长=增长")
    assert await chat.say("/who 区块链", "u2") == [to('u2', NOT_FOUND.format("区块链"))]


async def test_unconsented_profiles_are_not_searched(chat):
    await chat.say("/signup 擅长=区块链", "u1")
    assert await chat.say("/who 区块链", "u2") == [to('u2', NOT_FOUND.format("区块链"))]


@pytest.mark.parametrize("text", ["/who", "/找人", "/谁懂   "])
async def test_empty_query_gets_the_usage(chat, text):
    assert await chat.say(text, "u1") == [to('u1', USAGE)]


async def test_query_too_long(chat):
    assert await chat.say("/who " + "增长" * 26, "u1") == [to('u1', "关键词太长了（最多 50 字），换几个简短的词试试。")]


async def test_more_than_five_results(make_chat):
    users = ["u_owner", "u1", "u2", "u3", "u4", "u_mod", "u7"]
    c = await make_chat(members=users)
    for user in users:
        await c.signup(user, "擅长=增长")
    [reply] = await c.say("/who 增长", "u1")
    assert reply.startswith("找到 7 位和「增长」相关的成员：")
    assert len(ranked(reply)) == 5
    assert "……还有 2 位，用更具体的词可以缩小范围。" in reply


# ---- one member's card ----------------------------------------------------------------------------------

async def test_card_by_mention(chat):
    await chat.signup("u2", "城市=上海; 擅长=增长; 姓名=李明")
    assert await chat.say("/who @李四", "u1", mentions=["u2"]) == ["李四 的资料：\n姓名：李明\n城市：上海\n擅长：增长"]


async def test_cards_of_several_mentions(chat):
    await chat.signup("u2", "城市=上海")
    assert await chat.say("/找人 @李四 @王五", "u1", mentions=["u2", "u3"]) == [
        "李四 的资料：\n城市：上海\n\n王五 还没有登记资料。"]


async def test_card_of_someone_without_a_profile(chat):
    assert await chat.say("/who @王五", "u1", mentions=["u3"]) == ["王五 还没有登记资料。"]


async def test_card_of_someone_not_in_the_group(chat):
    assert await chat.say("/who @路人", "u1", mentions=["u9"]) == [to('u1', "群里没有「路人」。")]


async def test_card_of_someone_who_left(chat):
    await chat.signup("u3", "城市=上海")
    await chat.leave("u3")
    assert await chat.say("/who @王五", "u1", mentions=["u3"]) == [to('u1', "群里没有「王五」。")]


async def test_card_by_typed_name(chat):
    await chat.signup("u2", "城市=上海")
    assert await chat.say("/who @李四", "u1") == ["李四 的资料：\n城市：上海"]
    assert await chat.say("/who @路人甲", "u1") == [to("u1", "群里没有「路人甲」。")]


async def test_typed_name_shared_by_two_members_is_ambiguous(make_chat):
    c = await make_chat(members=["u_owner", "u1", "u2", "u3", "u4"])
    await c.say("大家好", "u4", name="李四")
    assert await c.say("/who @李四", "u1") == [
        "@张三 群里有 2 位叫「李四」的成员，请在群里直接 @ 对方（从成员列表里选）。"]
    await c.say("/signup 城市=杭州", "u4", name="李四")
    await c.say("/agree", "u4", name="李四")
    assert await c.say("/who @李四", "u1", mentions=["u4"]) == ["李四 的资料：\n城市：杭州"]
    assert await c.say("/who @李四", "u1", mentions=["u2"]) == ["李四 还没有登记资料。"]


# ---- privacy --------------------------------------------------------------------------------------------

FULL_CARD = "李四 的资料：\n姓名：李明\n公司：某某科技\n城市：上海\n擅长：增长"
SHORT_CARD = "李四 的资料：\n城市：上海\n擅长：增长"
FULL_LINE = "1. 李四（上海 · 李明 · 某某科技） — 擅长「增长」"
SHORT_LINE = "1. 李四（上海） — 擅长「增长」"
PRIVATE_FORM = "城市=上海; 擅长=增长; 姓名=李明; 公司=某某科技"


async def test_below_the_threshold_everyone_sees_name_and_company(chat):
    await chat.signup("u2", PRIVATE_FORM)
    assert FULL_LINE in (await chat.say("/who 增长", "u1"))[0]
    assert await chat.say("/who @李四", "u1", mentions=["u2"]) == [FULL_CARD]
    assert FULL_LINE in (await chat.dm("/who 增长", "u3"))[0]


@pytest.mark.parametrize("threshold", [3, 4])
async def test_at_or_above_the_threshold_members_do_not_see_name_and_company(make_chat, threshold):
    c = await make_chat(privacy_threshold=threshold)
    await c.signup("u2", PRIVATE_FORM)
    [found] = await c.say("/who 增长", "u1")
    assert SHORT_LINE in found and "李明" not in found and "某某科技" not in found
    assert await c.say("/who @李四", "u1", mentions=["u2"]) == [SHORT_CARD]
    [found] = await c.dm("/who 增长", "u1")
    assert SHORT_LINE in found and "李明" not in found and "某某科技" not in found
    assert await c.dm("/who @李四", "u1") == [SHORT_CARD]


async def test_above_the_threshold_the_owner_sees_them_only_in_private(make_chat):
    c = await make_chat(privacy_threshold=3)
    await c.signup("u2", PRIVATE_FORM)
    [found] = await c.say("/who 增长", "u_owner")
    assert SHORT_LINE in found and "李明" not in found
    assert await c.say("/who @李四", "u_owner", mentions=["u2"]) == [SHORT_CARD]
    assert FULL_LINE in (await c.dm("/who 增长", "u_owner"))[0]
    assert await c.dm("/who @李四", "u_owner") == [FULL_CARD]


async def test_group_size_from_config_triggers_privacy(make_chat):
    c = await make_chat(groups=[{"room": "r1", "size": 500}])
    await c.signup("u2", PRIVATE_FORM)
    [found] = await c.say("/who 增长", "u1")
    assert SHORT_LINE in found and "李明" not in found
    assert await c.say("/who @李四", "u1", mentions=["u2"]) == [SHORT_CARD]
    assert await c.dm("/who @李四", "u1") == [SHORT_CARD]
    assert await c.dm("/who @李四", "u_owner") == [FULL_CARD]


async def test_members_joining_cross_the_threshold(make_chat):
    c = await make_chat(privacy_threshold=5)
    await c.signup("u2", PRIVATE_FORM)
    assert await c.say("/who @李四", "u1", mentions=["u2"]) == [FULL_CARD]
    await c.join("u4")
    await c.flush()
    assert await c.say("/who @李四", "u1", mentions=["u2"]) == [SHORT_CARD]
