"""The member lifecycle on a known history, and private nickname suggestions."""
from __future__ import annotations

from datetime import timedelta

from bot.adapters.recording import ALL_CAPABILITIES
from tests.conftest import START, to


def dms(rows, user):
    return [r["text"] for r in rows if r.get("user") == user]


def day(n: int, hours: float = 0):
    return START + timedelta(days=n, hours=hours)


async def history(make_chat, **kw):
    """u1 speaks on day 1, u2 runs a command on day 40, u3 never says anything, u4 joins on day 30."""
    c = await make_chat(moderators=["u_mod"], members=("u_owner", "u1", "u2", "u3", "u_mod"), **kw)
    await c.say("早上好", "u1", at=day(1, 0.1))
    await c.join("u4", at=day(30))
    await c.say("/群规", "u2", at=day(40))
    return c


async def test_idle_members_are_nudged_once_after_sixty_days(make_chat):
    c = await history(make_chat)
    sent = await c.tick(day(59, 23))
    assert [r for r in sent if r.get("user") in ("u1", "u2", "u3", "u4")] == []
    sent = await c.tick(day(62))
    assert dms(sent, "u3") == ["王五，好久没在「增长学习社」见到你了！最近在忙什么？群里每周有问答和周报，发送 /问题列表 看看大家在聊什么，有问题也欢迎随时问。"]
    assert len(dms(sent, "u1")) == 1
    assert dms(sent, "u2") == dms(sent, "u4") == dms(sent, "u_owner") == dms(sent, "u_mod") == []
    sent = await c.tick(day(90, 3))
    assert dms(sent, "u3") == dms(sent, "u1") == []          # once per stretch
    assert dms(sent, "u4") == ["赵六，好久没在「增长学习社」见到你了！最近在忙什么？群里每周有问答和周报，发送 /问题列表 看看大家在聊什么，有问题也欢迎随时问。"]


async def test_after_ninety_days_moderators_get_the_list_and_confirm_the_removal(make_chat):
    c = await history(make_chat)
    sent = await c.tick(day(91, 2))                              # day 91 is a Monday
    expected = "💤 超过 90 天不活跃的成员（2 位）：张三、王五\n需要时发送 /移出 不活跃 提出移出（还要再确认一次）。"
    assert dms(sent, "u_mod") == [expected] and dms(sent, "u_owner") == [expected]
    assert await c.dm("/不活跃", "u_mod") == [expected]
    ask = await c.dm("/移出 不活跃", "u_mod")
    assert ask == ["将移出 2 位长期不活跃的成员：张三、王五\n确认请发送 /移出 确认 1（48 小时内有效）。"]
    assert [r for r in c.sent if r["type"] == "remove"] == []
    done = [text for text in await c.dm("/移出 确认 1", "u_owner") if text]     # and two removals
    assert done == ["已移出（#1）：\n• 张三：r1\n• 王五：r1"]
    assert sorted(r["user"] for r in c.sent if r["type"] == "remove") == ["u1", "u3"]


async def test_the_report_function_gives_the_same_list(make_chat):
    from handlers.lifecycle import idle_for_removal

    c = await history(make_chat)
    await c.tick(day(91, 2))
    async with c.app.sessions.begin() as db:
        ctx = await c.app.runtime.context(db, "growth", cause="test")
        assert [m.user_id for m in await idle_for_removal(ctx)] == ["u1", "u3"]


async def test_nobody_idle_says_so(make_chat):
    c = await make_chat(moderators=["u_mod"])
    assert await c.say("/不活跃", "u_mod") == ["没有超过 90 天不活跃的成员。"]
    assert await c.say("/移出 不活跃", "u_mod") == [to("u_mod", "没有超过 90 天不活跃的成员。")]


async def test_where_silence_is_not_observable_the_lifecycle_is_off(make_chat):
    from bot.adapters.wecom import CAPABILITIES

    c = await history(make_chat, capabilities=CAPABILITIES)
    sent = await c.tick(day(95))
    assert [r for r in sent if r.get("user")] == []
    async with c.app.sessions.begin() as db:
        from handlers.lifecycle import idle_for_removal

        assert await idle_for_removal(await c.app.runtime.context(db, "growth", cause="test")) is None


async def test_nickname_suggestions_once_then_a_few_weekly_reminders(make_chat):
    c = await make_chat(hygiene={"nicknames": {"remind": True, "reminders": 2}}, members=("u_owner", "u1", "u2", "u3"))
    await c.signup("u1", "城市=上海; 行业=教育; 姓名=张伟")
    await c.signup("u2", "城市=北京; 行业=金融")
    await c.say("你好", "u2", name="北京-金融-李四")                 # already fits
    sent = await c.tick(day(1))
    assert dms(sent, "u1") == ["你好！本群的群昵称格式是「{城市}-{行业}-{昵称}」，按你的资料可以改成：上海-教育-张三\n方便大家认出你。"]
    assert dms(sent, "u2") == dms(sent, "u3") == []
    assert [r for r in sent if r.get("room")] == []
    sent = await c.tick(day(30))
    assert dms(sent, "u1") == ["提醒一下：群昵称可以改成「上海-教育-张三」（格式「{城市}-{行业}-{昵称}」）。之后最多再提醒 1 次。",
                               "提醒一下：群昵称可以改成「上海-教育-张三」（格式「{城市}-{行业}-{昵称}」）。之后最多再提醒 0 次。"]
    assert dms(await c.tick(day(60)), "u1") == []


async def test_a_nickname_showing_the_real_name_is_only_ever_sent_privately(make_chat):
    c = await make_chat(hygiene={"nicknames": {"remind": True}}, nickname_format="{城市}-{姓名}", privacy_threshold=3)
    await c.signup("u1", "城市=上海; 姓名=张伟", room=None)
    sent = await c.tick(day(1))
    assert dms(sent, "u1") == ["你好！本群的群昵称格式是「{城市}-{姓名}」，按你的资料可以改成：上海-张伟\n方便大家认出你。"]
    assert all("张伟" not in r["text"] for r in c.sent if r.get("room"))


async def test_nickname_reminders_are_off_by_default(make_chat):
    c = await make_chat(capabilities=ALL_CAPABILITIES)
    await c.signup("u1", "城市=上海; 行业=教育")
    assert dms(await c.tick(day(8)), "u1") == []


async def test_members_of_a_group_whose_chat_is_not_kept_are_never_called_idle(make_chat):
    c = await history(make_chat)
    await c.say("/记录 关", "u_owner", at=day(41))
    sent = await c.tick(day(91, 2))
    assert [r for r in sent if r.get("user") in ("u1", "u3")] == []
    assert await c.dm("/不活跃", "u_mod") == ["没有超过 90 天不活跃的成员。"]
