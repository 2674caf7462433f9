"""/群规: the rules in force, edited by owners in chat as new versions, acknowledged where the owner asks."""
from __future__ import annotations

from tests.conftest import to

CONFIG_RULES = ["每周五晚答疑", "禁止广告"]


async def test_the_rules_come_from_the_config_until_an_owner_edits_them(make_chat):
    c = await make_chat(rules=CONFIG_RULES)
    assert await c.say("/群规") == ["📜 群规（第 1 版）：\n1. 每周五晚答疑\n2. 禁止广告"]
    assert await c.say("/rules") == await c.say("/群规")


async def test_an_owner_edits_the_rules_a_new_version_posted_in_the_groups(make_chat):
    c = await make_chat(rules=CONFIG_RULES, groups=[{"room": "r1"}, {"room": "r2"}])
    sent = await c.dm("/群规 改\n1. 不发广告\n2、提问写清背景", "u_owner")
    assert sent == ["📜 群规更新为第 2 版：\n1. 不发广告\n2. 提问写清背景"] * 2 + ["群规已更新为第 2 版，已发到 2 个群。"]
    assert await c.say("/群规") == ["📜 群规（第 2 版，2026.11.23 更新）：\n1. 不发广告\n2. 提问写清背景"]
    assert await c.say("/群规 历史") == ["📜 群规的版本：\n第 1 版：配置文件里的群规\n第 2 版：2026.11.23，2 条"]
    await c.join("u9", name="新人")
    welcome = (await c.flush())[0]["text"]
    assert "群规（随时发送 /群规 查看）：\n1. 不发广告\n2. 提问写清背景" in welcome


async def test_bad_edits_change_nothing(make_chat):
    c = await make_chat(rules=CONFIG_RULES)
    assert (await c.say("/群规 改 不许说话", "u1"))[0].startswith("@张三 这个命令需要")
    assert await c.say("/群规 改", "u_owner") == [to("u_owner", "用法：/群规 改，下一行起一行一条群规，例如：\n/群规 改\n不发广告\n提问写清背景")]
    assert await c.say("/群规 改\n每周五晚答疑\n禁止广告", "u_owner") == [to("u_owner", "和第 1 版一字不差，没有生成新版本。")]
    assert await c.say("/群规 改\n" + "很长" * 60, "u_owner") == [to("u_owner", "每条群规最多 100 个字。")]
    assert await c.say("/群规 改\n" + "\n".join(f"第{n}条" for n in range(21)), "u_owner") == [to("u_owner", "群规最多 20 条。")]
    assert await c.say("/群规 乱写") == [to("u1", "用法：/群规（查看）；/群规 确认；/群规 历史；群主：/群规 改（下一行起一行一条）")]
    assert (await c.say("/群规"))[0].startswith("📜 群规（第 1 版）")


async def test_members_acknowledge_the_rules_where_the_owner_asks(make_chat):
    c = await make_chat(rules=CONFIG_RULES, hygiene={"rules_ack": True})
    assert await c.say("/群规") == ["📜 群规（第 1 版）：\n1. 每周五晚答疑\n2. 禁止广告\n请发送 /群规 确认，表示已读群规。"]
    assert await c.say("/群规 确认") == [to("u1", "已确认第 1 版群规，谢谢！")]
    assert await c.say("/群规 确认") == [to("u1", "你已经确认过这一版群规，谢谢。")]
    assert (await c.say("/群规", "u_owner"))[0].endswith("（群主可见）已有 1 人确认这一版。")
    await c.say("/群规 改\n不发广告", "u_owner")
    assert (await c.say("/群规"))[0].endswith("请发送 /群规 确认，表示已读群规。")     # a new version asks again
    await c.join("u9", name="新人")
    assert "\n请发送 /群规 确认，表示已读群规。\n" in (await c.flush())[0]["text"]


async def test_in_english(make_chat):
    c = await make_chat(rules=CONFIG_RULES, locale="en")
    assert await c.say("/rules") == ["📜 Group rules (version 1):\n1. 每周五晚答疑\n2. 禁止广告"]
