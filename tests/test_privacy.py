"""Privacy of 姓名 and 公司 follows the community's largest group, also for groups enabled from chat."""
from bot.adapters.base import Capability, Member
from bot.adapters.recording import ALL_CAPABILITIES
from tests.conftest import to

FORM = "姓名=张伟; 公司=秘密科技; 城市=北京; 擅长=增长"
HIDDEN = "1. 张三（北京） — 擅长「增长」"
SHOWN = "1. 张三（北京 · 张伟 · 秘密科技） — 擅长「增长」"


async def test_a_small_second_group_does_not_reveal_what_the_large_one_hides(make_chat):
    c = await make_chat(privacy_threshold=4, groups=[{"room": "r1"}, {"room": "r2"}])
    await c.members("r2", ["u1", "u2"])
    await c.signup("u1", FORM)
    assert HIDDEN in (await c.say("/找人 增长", "u2", room="r2"))[0]
    assert HIDDEN in (await c.say("/找人 增长", "u2", room="r1"))[0]
    assert HIDDEN in (await c.dm("/找人 增长", "u2"))[0]
    assert SHOWN in (await c.dm("/找人 增长", "u_owner"))[0]


async def test_a_group_enabled_from_chat_learns_its_size_from_the_platform(make_chat):
    c = await make_chat(privacy_threshold=5, members=("u_owner", "u1"))
    big_room = [Member(f"p{i}", f"成员{i}") for i in range(20)] + [Member("u_owner", "老王"), Member("u1", "张三"),
                                                                   Member("u2", "李四")]
    c.driver.adapter._members = lambda room: big_room if room == "r9" else []
    assert (await c.say("/启用", "u_owner", room="r9"))[0].startswith("已启用：本群现在属于「增长学习社」")
    await c.signup("u1", FORM, room="r9")
    assert HIDDEN in (await c.say("/找人 增长", "u2", room="r9"))[0]


async def test_without_a_member_list_or_configured_size_private_fields_stay_hidden(make_chat):
    c = await make_chat(capabilities=ALL_CAPABILITIES - {Capability.MEMBER_LIST}, privacy_threshold=100)
    await c.signup("u1", FORM)
    assert HIDDEN in (await c.say("/找人 增长", "u2"))[0]


async def test_a_configured_size_below_the_threshold_shares_everything(make_chat):
    c = await make_chat(capabilities=ALL_CAPABILITIES - {Capability.MEMBER_LIST}, privacy_threshold=100,
                        groups=[{"room": "r1", "size": 40}])
    await c.signup("u1", FORM)
    assert SHOWN in (await c.say("/找人 增长", "u2"))[0]


# ---- nothing carrying 姓名 or 公司 is posted to a group at the threshold -----------------------------------------

SECRET_FORM = "姓名=张伟伟; 公司=腾讯云; 城市=苏州"
WECOM = frozenset({Capability.MENTION_IDS})          # no private chat the bot can open, no member list


def group_texts(chat) -> list[str]:
    return [row["text"] for row in chat.sent if "room" in row and "text" in row]


def private_texts(chat, user: str) -> list[str]:
    return [row["text"] for row in chat.sent if row.get("user") == user]


def leaks(chat) -> list[str]:
    return [t for t in group_texts(chat) if "张伟伟" in t or "腾讯云" in t or "张伟" in t]


async def test_a_one_line_signup_in_a_large_group_does_not_repeat_name_and_company(make_chat):
    c = await make_chat(privacy_threshold=3, nickname_format="{城市}-{姓名}")
    [consent] = await c.say(f"/登记 {SECRET_FORM}", "u1")
    assert consent.startswith("@张三 请确认你的资料：\n城市：苏州\n（姓名、公司已收到：本群已达到隐私人数，不在群里显示，只有群主能在私聊里看到）\n")
    assert await c.say("/同意", "u1") == [
        "@张三 登记完成，欢迎！你的资料已进入名录，大家可以用 /找人 找到你。\n建议群昵称里有你的姓名，不在群里显示，已私聊发给你。",
        "建议群昵称：苏州-张伟伟"]
    assert private_texts(c, "u1") == ["建议群昵称：苏州-张伟伟"]
    assert await c.say("/资料 姓名=张伟; 城市=上海", "u1") == [
        "@张三 已更新：姓名、城市。\n建议群昵称里有你的姓名，不在群里显示，已私聊发给你。", "建议群昵称：上海-张伟"]
    assert private_texts(c, "u1")[-1] == "建议群昵称：上海-张伟"
    assert leaks(c) == []
    [shown] = await c.dm("/资料", "u1")                         # in private, everything
    assert "姓名：张伟" in shown and "公司：腾讯云" in shown and shown.endswith("建议群昵称：上海-张伟")


async def test_where_the_bot_cannot_write_in_private_it_says_where_to_look(make_chat):
    c = await make_chat(capabilities=WECOM, privacy_threshold=3, nickname_format="{姓名}|{行业}",
                        groups=[{"room": "r1", "size": 50}])
    await c.say(f"/登记 {SECRET_FORM}; 行业=教育", "u1")
    assert await c.say("/同意", "u1") == [
        "@张三 登记完成，欢迎！你的资料已进入名录，大家可以用 /找人 找到你。\n建议群昵称里有你的姓名，不在群里显示：私聊我发送 /资料 查看。"]
    assert leaks(c) == []
    [shown] = await c.dm("/资料", "u1")
    assert shown.endswith("建议群昵称：张伟伟|教育")


async def test_the_guided_signup_in_a_large_group_does_not_ask_for_name_and_company(make_chat):
    c = await make_chat(capabilities=WECOM, privacy_threshold=3, groups=[{"room": "r1", "size": 50}])
    [intro] = await c.say("/登记", "u1")
    assert intro.startswith("@张三 我们来登记你的资料，一共 7 项，")
    assert "姓名和公司不在群里问；登记后可以私聊我用 /资料 姓名=…; 公司=… 补充。" in intro
    for answer in ("苏州", "产品经理", "教育", "跳过", "增长", "跳过"):
        [asked] = await c.say(answer, "u1")
        assert "姓名" not in asked and "公司" not in asked
    [consent] = await c.say("读书", "u1")
    assert consent.startswith("@张三 请确认你的资料：\n城市：苏州\n职位：产品经理")


async def test_below_the_threshold_the_group_sees_the_nickname_with_the_name(make_chat):
    c = await make_chat(privacy_threshold=100, nickname_format="{城市}-{姓名}")
    [consent] = await c.say(f"/登记 {SECRET_FORM}", "u1")
    assert consent.startswith("@张三 请确认你的资料：\n姓名：张伟伟\n公司：腾讯云\n城市：苏州\n")
    assert (await c.say("/同意", "u1"))[0].endswith("建议群昵称：苏州-张伟伟")
    assert private_texts(c, "u1") == []


async def test_a_group_that_grows_during_a_guided_signup_is_not_asked_for_name_and_company(make_chat):
    c = await make_chat(capabilities=frozenset({Capability.MENTION_IDS, Capability.MEMBER_LIST}),
                        privacy_threshold=6, members=("u_owner", "u1", "u2", "u3", "u4"))
    assert (await c.say("/登记", "u1"))[0].startswith("@张三 我们来登记你的资料，一共 9 项，")
    for answer in ("苏州", "产品经理", "教育", "跳过", "增长"):
        await c.say(answer, "u1")
    await c.join("u9", name="小明")                           # six members now: at the threshold
    await c.flush()                                           # (its welcome)
    [asked] = await c.say("跳过", "u1")                        # 诉求 answered
    assert asked == "@张三 （7/7）你的兴趣？例如：跑步, 读书（最多 100 字）"      # 姓名 and 公司 are not asked
    [consent] = await c.say("读书", "u1")
    assert consent.startswith("@张三 请确认你的资料：\n城市：苏州\n")


async def test_a_bad_form_in_a_large_group_is_not_quoted_back(make_chat):
    c = await make_chat(privacy_threshold=3)
    assert await c.say("/登记 城市=北京; 公司 腾讯科技", "u1") == [to('u1', "看不懂第 2 段，请写成 字段=内容，多个字段用分号隔开。")]
    assert await c.dm("/登记 城市=北京; 公司 腾讯科技", "u1") == [
        "看不懂「公司 腾讯科技」，请写成 字段=内容，多个字段用分号隔开。"]            # in private it may
