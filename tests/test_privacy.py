"""Privacy of 姓名 and 公司 follows the community's largest group, also for groups enabled from chat."""
from bot.adapters.base import Capability, Member
from bot.adapters.recording import ALL_CAPABILITIES

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
    assert await c.say("/启用", "u_owner", room="r9") == ["已启用：本群现在属于「增长学习社」。发送 /帮助 查看命令。"]
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
