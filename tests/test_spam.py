"""Anti-spam with a human in the loop: what is caught, who is left alone, and how a member's bursts escalate."""
from __future__ import annotations

import io
from datetime import timedelta

from bot.adapters.recording import ALL_CAPABILITIES
from bot.events import Capability, MessageKind
from tests.conftest import to

SPAM = {"spam": {"enabled": True}}
AD = "限时优惠 https://spam.example/buy 点这里"


async def spam_chat(make_chat, capabilities=ALL_CAPABILITIES, spam=None, **overrides):
    hygiene = {"spam": {"enabled": True, **(spam or {})}}
    return await make_chat(capabilities=capabilities, moderators=["u_mod"], hygiene=hygiene,
                           members=("u_owner", "u1", "u2", "u3", "u_mod"), **overrides)


async def rows(c, text, user="u1", **kw):
    """Everything the bot sent in answer to one message."""
    before = len(c.sent)
    await c.say(text, user, **kw)
    return c.sent[before:]


def dms(sent, user):
    return [r["text"] for r in sent if r.get("user") == user]


def in_room(sent):
    return [r for r in sent if r.get("room")]


def qr_png(text: str) -> bytes:
    import qrcode

    buffer = io.BytesIO()
    qrcode.make(text).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_ordinary_chat_and_allow_listed_links_get_no_reaction(make_chat):
    c = await spam_chat(make_chat)
    assert await rows(c, "今天的分享很有收获") == []
    assert await rows(c, "推荐一篇 https://mp.weixin.qq.com/s/abc 写得很透") == []
    assert await rows(c, "好文", kind=MessageKind.LINK, url="https://www.zhihu.com/question/1") == []
    assert await rows(c, "看这个 /usr/bin 和 /::)") == []


async def test_moderators_and_owners_may_post_links(make_chat):
    c = await spam_chat(make_chat)
    assert await rows(c, AD, "u_mod") == []
    assert await rows(c, AD, "u_owner") == []


async def test_an_ad_link_is_warned_then_reported_then_removed_after_a_moderators_confirmation(make_chat):
    c = await spam_chat(make_chat)
    first = await rows(c, AD)
    assert in_room(first) == []
    [warning] = dms(first, "u1")
    assert "被识别为外部链接" in warning and "/申诉" in warning
    second = await rows(c, "再看 https://spam.example/2", step=timedelta(minutes=11))
    [report] = dms(second, "u_mod")
    assert report == dms(second, "u_owner")[0]
    assert report.startswith("⚠️ 反广告 #2：张三 在「r1」\n外部链接：https://spam.example/2") and "此前 1 次" in report
    third = await rows(c, "最后一次 https://spam.example/3", step=timedelta(minutes=11))
    [ask] = dms(third, "u_mod")
    assert "建议移出" in ask and "/移出 确认 3" in ask
    assert [r for r in third if r["type"] == "remove"] == []          # nobody is removed without a human
    confirmed = await rows(c, "/移出 确认 3", "u_mod", room=None)
    removals = [r for r in confirmed if r["type"] == "remove"]
    assert [(r["room"], r["user"]) for r in removals] == [("r1", "u1")]
    assert dms(confirmed, "u_mod") == ["已移出（#3）：\n• 张三：r1"]
    again = await rows(c, "/移出 确认 3", "u_owner", room=None)
    assert dms(again, "u_owner") == ["编号 3 已由 小版 处理过了，不会重复移出。"]
    assert [r for r in again if r["type"] == "remove"] == []
    log = (await c.say("/违规 记录", "u_mod", room=None))[0]
    assert "#3" in log and "已移出" in log and "申请移出（已处理）" in log and "通知版主" in log and "提醒" in log


async def test_two_moderators_confirming_at_once_remove_once(make_chat):
    c = await spam_chat(make_chat, spam={"steps": ["remove"]})
    await c.say(AD)
    await c.say("/移出 确认 1", "u_mod", room=None, drain=False)
    await c.say("/移出 确认 1", "u_owner", room=None, drain=False, step=timedelta(0))
    sent = await c.flush()
    assert len([r for r in c.sent if r["type"] == "remove"]) == 1
    assert "已由 小版 处理过了" in " ".join(r.get("text", "") for r in sent + c.sent)


async def test_a_flood_of_fifty_messages_gets_one_warning_and_no_reply_in_the_group(make_chat):
    c = await spam_chat(make_chat)
    sent = []
    for n in range(50):
        sent += await rows(c, f"刷屏 {n}", step=timedelta(seconds=1))
    assert in_room(sent) == []
    assert len(dms(sent, "u1")) == 1 and "刷屏" in dms(sent, "u1")[0]
    assert dms(sent, "u_mod") == []
    log = (await c.say("/违规 记录", "u_mod", room=None))[0]
    assert "（同一波又 40 条）" in log


async def test_where_the_bot_cannot_message_privately_one_mention_in_the_group_per_burst(make_chat):
    c = await spam_chat(make_chat, capabilities=ALL_CAPABILITIES - {Capability.CAN_DM})
    sent = []
    for n in range(50):
        sent += await rows(c, f"刷屏 {n}", step=timedelta(seconds=1))
    assert [r["text"] for r in in_room(sent)] == [to("u1", "你的消息被识别为刷屏，本群不允许广告和刷屏，这次只是提醒。误判请发送 /申诉 说明。")]


async def test_a_new_member_gets_no_free_pass(make_chat):
    c = await spam_chat(make_chat)
    await c.join("u9", name="新人")
    await c.flush()
    sent = await rows(c, AD, "u9", name="新人")
    assert dms(sent, "u9") == []
    assert dms(sent, "u_mod")[0].startswith("⚠️ 反广告 #1：新人 在「r1」")


async def test_whitelisted_members_and_domains_are_left_alone(make_chat):
    c = await spam_chat(make_chat)
    assert await c.say("/白名单 @李四", "u_mod", mentions=["u2"]) == [
        "已加入白名单：李四"]
    assert await rows(c, AD, "u2") == []
    assert await c.say("/白名单 域名 https://spam.example/x", "u_mod") == ["已加入白名单：spam.example"]
    assert await rows(c, "see https://www.spam.example/a") == []
    assert await c.say("/白名单 域名 不是域名", "u_mod") == ["@小版 用法：/白名单 域名 example.com（只写域名，如 example.com）"]
    listing = (await c.say("/白名单", "u_mod"))[0]
    assert "成员：李四" in listing and "域名：spam.example" in listing
    assert await c.say("/白名单 删除 @李四", "u_mod", mentions=["u2"]) == ["已从白名单删除：李四"]
    assert dms(await rows(c, "https://other.example/x", "u2"), "u2")
    assert (await c.say("/白名单 @李四", "u1", mentions=["u2"]))[0].startswith("@张三 ")     # members may not
    log = (await c.dm("/违规 记录", "u_mod"))[0]
    assert "李四 · 白名单 · 删除" in log and "李四 · 白名单 · 加入" in log and "spam.example · 白名单 · 加入" in log


async def test_a_qr_code_leading_to_another_group_is_an_ad(make_chat):
    c = await spam_chat(make_chat, spam={"own_qr_codes": ["https://weixin.qq.com/g/OURS"]})
    assert await rows(c, "", kind=MessageKind.IMAGE, image=qr_png("https://weixin.qq.com/g/OURS123")) == []
    assert await rows(c, "", kind=MessageKind.IMAGE, image=qr_png("https://mp.weixin.qq.com/s/article")) == []
    assert await rows(c, "", kind=MessageKind.IMAGE, image=b"not an image") == []
    sent = await rows(c, "", kind=MessageKind.IMAGE, image=qr_png("https://weixin.qq.com/g/AbCdEfGh"))
    assert "外部群或个人二维码" in dms(sent, "u1")[0]


async def test_mini_programs_contact_cards_and_keywords(make_chat):
    c = await spam_chat(make_chat)
    assert "小程序" in dms(await rows(c, "拼团", kind=MessageKind.MINI_PROGRAM), "u1")[0]
    assert "名片" in dms(await rows(c, "王老师", "u2", kind=MessageKind.CONTACT_CARD), "u2")[0]
    assert "广告关键词" in dms(await rows(c, "想赚钱的加微信 abc123", "u3"), "u3")[0]


async def test_off_switches_leave_those_kinds_alone(make_chat):
    c = await spam_chat(make_chat, spam={"mini_programs": False, "links": False, "keywords": []})
    assert await rows(c, "拼团", kind=MessageKind.MINI_PROGRAM) == []
    assert await rows(c, AD) == []
    assert await rows(c, "加微信") == []


async def test_the_same_text_in_two_groups_is_spam(make_chat):
    c = await spam_chat(make_chat, groups=[{"room": "r1"}, {"room": "r2"}])
    await c.members("r2", ["u1", "u2"])
    text = "本周特价课程五折，名额有限先到先得"
    assert await rows(c, text) == []
    sent = await rows(c, text, room="r2")
    assert "多群重复发送" in dms(sent, "u1")[0]


async def test_without_the_right_to_remove_moderators_are_told_to_do_it_by_hand(make_chat):
    c = await spam_chat(make_chat, capabilities=ALL_CAPABILITIES - {Capability.CAN_REMOVE}, spam={"steps": ["remove"]})
    sent = await rows(c, AD)
    assert "不能移出成员，请管理员手动处理" in dms(sent, "u_mod")[0]
    assert [r for r in sent if r["type"] == "remove"] == []
    assert await c.dm("/移出 确认 1", "u_mod") == ["这个平台上机器人不能移出成员，请管理员手动处理。"]


async def test_a_confirmation_after_expiry_or_for_no_such_number_removes_nobody(make_chat):
    c = await spam_chat(make_chat, spam={"steps": ["remove"]})
    await c.say(AD)
    assert await c.dm("/移出 确认 9", "u_mod") == ["没有编号为 9 的移出申请。发送 /违规 记录 查看。"]
    assert await c.dm("/移出 确认 abc", "u_mod") == ["用法：/移出 确认 编号；/移出 不活跃"]
    assert await c.dm("/移出 确认 1", "u_mod", step=timedelta(hours=49)) == [
        "编号 1 的移出申请已过期或已取消，没有移出任何人。需要的话请重新提出。"]
    assert [r for r in c.sent if r["type"] == "remove"] == []
    assert (await c.dm("/移出 确认 1", "u1"))[0].startswith("这个命令需要")


async def test_removal_without_confirmation_when_the_owner_chooses_it(make_chat):
    c = await spam_chat(make_chat, spam={"steps": ["remove"], "confirm_removal": False})
    sent = await rows(c, AD)
    assert [(r["room"], r["user"]) for r in sent if r["type"] == "remove"] == [("r1", "u1")]
    assert dms(sent, "u_mod")[0].startswith("⚠️ 反广告 #1：已把 张三 移出（r1）")


async def test_a_removed_member_who_rejoins_is_watched(make_chat):
    c = await spam_chat(make_chat, spam={"steps": ["warn", "report", "remove"], "confirm_removal": False,
                                         "new_member_days": 0})
    await c.say(AD, step=timedelta(minutes=11))
    await c.say(AD, step=timedelta(minutes=11))
    await c.say(AD, step=timedelta(minutes=11))
    assert len([r for r in c.sent if r["type"] == "remove"]) == 1
    await c.leave("u1")
    await c.join("u1", step=timedelta(days=30))
    sent = await c.flush()
    assert "曾被移出 1 次的 张三 又加入了「r1」" in dms(sent, "u_mod")[0]
    again = await rows(c, AD)                          # a month later: no reminder for them this time
    assert dms(again, "u1") == [] and dms(again, "u_mod")[0].startswith("⚠️ 反广告 #4")
    log = (await c.say("/违规 记录 @张三", "u_mod", mentions=["u1"]))[0]
    assert "再次入群" in log and "已移出" in log


async def test_appeals_reach_the_moderators(make_chat):
    c = await spam_chat(make_chat)
    await c.say(AD)
    sent = await rows(c, "/申诉 我发的是活动报名链接", room=None)
    assert dms(sent, "u1") == ["已转给管理员，他们会尽快联系你。"]
    forwarded = dms(sent, "u_mod")[0]
    assert forwarded.startswith("📮 张三 的申诉：我发的是活动报名链接\n最近的记录：\n#1 ") and "外部链接 · 提醒" in forwarded
    assert await c.dm("/申诉") == ["用法：/申诉 说明情况（例如：我发的是活动报名链接，不是广告）"]
    assert await c.dm("/申诉 我没发广告", "u_stranger") == [
        "你还不是任何社群的成员。请先在社群的群聊里说句话或发送 /help，再来私聊我。"]


async def test_statistics_count_by_rule_and_action(make_chat):
    c = await spam_chat(make_chat)
    await c.say(AD)
    await c.say("加微信", "u2")
    stats = (await c.dm("/违规 统计", "u_mod"))[0]
    assert stats == "🛡 近 30 天：\n按规则：广告关键词 1、外部链接 1\n按处理：提醒 2"


async def test_on_a_platform_that_sees_only_mentions_nothing_is_judged(make_chat):
    from bot.adapters.wecom import CAPABILITIES

    c = await spam_chat(make_chat, capabilities=CAPABILITIES)
    assert await rows(c, AD) == []
    assert await c.say("/不活跃", "u_mod") == [
        "@小版 这个平台上机器人只看得到 @它 的消息，看不出谁不活跃：不活跃提醒和名单在这里关闭。"]
    assert await c.say("/违规", "u_mod") == [
        "还没有任何记录。\n（这个平台上机器人只看得到 @它 的消息：反广告不检查群聊，也不能移出成员；这里记的是申诉等。）"]


async def test_anti_spam_is_off_unless_switched_on(make_chat):
    c = await make_chat()
    assert await rows(c, AD) == []
    assert await c.dm("/违规 统计", "u_owner") == [
        "🛡 近 30 天：\n按规则：-\n按处理：-\n（反广告没有开启：群主可在配置文件的 hygiene.spam.enabled 打开。）"]


async def test_a_redelivered_ad_is_judged_once(make_chat):
    c = await spam_chat(make_chat)
    await c.say(AD, id="m1")
    await c.say(AD, id="m1", step=timedelta(minutes=20))
    assert len(dms(c.sent, "u1")) == 1


def test_the_example_handles_a_spam_burst_and_leaves_ordinary_chat_alone(tmp_path):
    from tests.test_simulate import ROOT, rows_of, run_simulate

    rows = rows_of(run_simulate(ROOT / "examples" / "spam.jsonl", tmp_path, config=ROOT / "examples" / "spam.yaml"))
    assert [r for r in rows if r.get("room") and r["type"] == "say"] == []       # nothing in the group at all
    assert [r["type"] for r in rows if r.get("user") == "u9"] == ["say", "remove"]   # one reminder, then removed
    reports = [r["text"] for r in rows if r.get("user") == "u_mod"]
    assert reports[0].startswith("⚠️ 反广告 #2：推广小王") and "/移出 确认 3" in reports[1]
    [removal] = [r for r in rows if r["type"] == "remove"]
    assert (removal["room"], removal["user"], removal["at"]) == ("r1", "u9", "2026-11-24T10:35:00+08:00")
    assert [r["text"] for r in rows if r.get("user") == "u_owner"][-1] == "编号 3 已由 小版 处理过了，不会重复移出。"
    assert "（同一波又 2 条）" in reports[-1]


def test_a_script_may_share_a_contact_card(tmp_path):
    from tests.test_simulate import MEMBERS, event, rows_of, run_simulate, script

    config = tmp_path / "spam.yaml"
    config.write_text("communities:\n  - id: growth\n    name: 增长学习社\n    owners: [u_owner]\n"
                      "    hygiene: {spam: {enabled: true}}\n    groups:\n      - room: r1\n", encoding="utf-8")
    card = event(type="message", at="2026-11-23T09:00:00+08:00", room="r1", user="u1", name="张三",
                 kind="contact_card", text="王老师")
    rows = rows_of(run_simulate(script(MEMBERS, card), tmp_path, config=config))
    assert [(r["user"], "名片" in r["text"]) for r in rows] == [("u1", True)]


async def test_moderation_commands_are_for_moderators_and_explain_their_usage(make_chat):
    c = await spam_chat(make_chat)
    assert (await c.say("/违规"))[0].startswith("@张三 这个命令需要")
    assert (await c.say("/移出 确认 1"))[0].startswith("@张三 这个命令需要")
    assert await c.dm("/移出", "u_mod") == ["用法：/移出 确认 编号；/移出 不活跃"]
    assert await c.dm("/违规 记录 全部", "u_mod") == ["用法：/违规 记录 [@成员]；/违规 统计"]
    assert await c.dm("/违规", "u_mod") == ["还没有任何记录。"]
    assert await c.dm("/白名单 删除 example.com", "u_mod") == ["example.com 不在白名单里。"]
    assert await c.dm("/申诉 " + "长" * 301) == ["申诉最多 300 个字。"]


async def test_a_reminder_in_english(make_chat):
    c = await spam_chat(make_chat, locale="en")
    [warning] = dms(await rows(c, AD), "u1")
    assert warning.startswith("Hi, your message in \"r1\" looks like an outside link.") and "/appeal" in warning


async def test_two_bot_processes_confirming_at_once_remove_once(make_chat, db_url):
    import asyncio

    from bot.events import IncomingMessage
    from tests.conftest import Chat

    c = await spam_chat(make_chat, spam={"steps": ["remove"]})
    await c.say(AD)
    other = Chat(c.config, db_url)              # a second process on the same database
    await other.driver.start()
    try:
        now = c.clock.now() + timedelta(minutes=1)
        other.clock.set(now)
        await c.driver.advance_to(now)
        await asyncio.gather(
            c.driver.handle(IncomingMessage("x1", None, "u_mod", "小版", "/移出 确认 1", now)),
            other.driver.handle(IncomingMessage("x2", None, "u_owner", "老王", "/移出 确认 1", now)))
        await c.driver.drain()
        await other.driver.drain()
    finally:
        await other.close()
    sent = c.sent + other.sent
    assert len([r for r in sent if r["type"] == "remove"]) == 1
    assert len([r for r in sent if r.get("text", "").startswith("已移出（#1）")]) == 1
    assert len([r for r in sent if "已由" in r.get("text", "") and "处理过了" in r.get("text", "")]) == 1


async def test_the_watch_forgets_old_members_and_texts_but_keeps_counting(monkeypatch):
    from datetime import datetime

    from bot import spam
    from bot.config import SpamConfig
    from bot.events import IncomingMessage

    monkeypatch.setattr(spam, "MAX_TRACKED", 10)
    watch, cfg = spam.SpamWatch(), SpamConfig(enabled=True, flood_messages=3)
    at = datetime.fromisoformat("2026-11-23T09:00:00+08:00")
    for n in range(40):                       # forty members, each a long message, in one busy second
        await watch.inspect(IncomingMessage(f"m{n}", "r1", f"u{n}", "x", f"第 {n} 条很长的普通聊天内容，不是广告", at), "c", cfg, at)
    assert len(watch._recent) <= 10 and len(watch._texts) <= 10
    found = [await watch.inspect(IncomingMessage(f"f{n}", "r1", "u39", "x", "嗯", at), "c", cfg, at) for n in range(2)]
    assert [f.rule if f else None for f in found] == [None, "flood"]


async def test_switching_the_anti_spam_on_where_it_cannot_see_the_chat_is_logged(make_chat, caplog):
    from bot.adapters.wecom import CAPABILITIES

    await spam_chat(make_chat, capabilities=CAPABILITIES)
    assert any("anti-spam on, but the" in r.getMessage() and "cannot be checked" in r.getMessage()
               for r in caplog.records)
