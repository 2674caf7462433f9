"""Signing up (one line or guided), consent before the directory, viewing, editing and deleting a profile."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.adapters.base import Capability
from bot.adapters.recording import ALL_CAPABILITIES
from models import Member, Profile
from tests.conftest import to

FORM = "城市=北京; 行业=教育; 职位=产品经理; 擅长=增长, 文案; 姓名=张伟; 公司=某某科技"
DONE = "登记完成，欢迎！你的资料已进入名录，大家可以用 /找人 找到你。\n建议群昵称：北京-教育-张三"
NOTHING_PENDING = "没有等待确认的登记。发送 /登记 开始。"
NO_PROFILE = "你还没有登记资料。发送 /登记 开始（只发 /登记 可以逐项填写）。"
EXPIRED = "上次的登记已超时结束，资料没有保存。想登记请重新发送 /登记。"
DM_HINT = "我是「增长学习社」的群助手。发送 /帮助 查看命令，发送 /登记 登记资料，发送 /找人 关键词 找人。"
FIELDS = "姓名、公司、城市、职位、行业、发展路径、擅长、诉求、兴趣"


def not_found(query: str) -> str:
    return f"名录里没有找到和「{query}」相关的成员。换个说法试试，或者请大家 /登记 资料。"


async def member_row(chat, user: str) -> Member:
    async with chat.app.sessions() as db:
        return await db.scalar(select(Member).where(Member.user_id == user))


# ---- one-line signup and consent ------------------------------------------------------------------------

async def test_one_line_signup_asks_for_consent_before_the_directory(chat):
    [consent] = await chat.say(f"/signup {FORM}", "u1")
    assert consent.startswith("@张三 请确认你的资料：\n姓名：张伟\n公司：某某科技\n城市：北京\n职位：产品经理\n行业：教育\n"
                              "擅长：增长, 文案\n")
    assert "「增长学习社」的成员可以在名录（/找人）里看到以上资料" in consent
    assert "群人数达到 100 人后，姓名和公司只对群主可见" in consent
    assert "回复 /同意 确认，回复 /取消 放弃。" in consent

    assert await chat.say("/who 增长", "u2") == [to("u2", not_found("增长"))]
    assert await chat.say("/profile", "u1") == [to("u1", NO_PROFILE)]

    assert await chat.say("/agree", "u1") == [to("u1", DONE)]
    [found] = await chat.say("/who 增长", "u2")
    assert found.startswith("找到 1 位和「增长」相关的成员：\n1. 张三（产品经理 · 北京 · 教育")


async def test_chinese_agree_alias(chat):
    await chat.say("/登记 城市=北京; 行业=教育", "u1")
    assert await chat.say("/同意", "u1") == [to("u1", DONE)]
    assert "1. 张三（北京 · 教育）" in (await chat.say("/who 教育", "u2"))[0]


async def test_agree_with_nothing_pending(chat):
    assert await chat.say("/agree", "u1") == [to("u1", NOTHING_PENDING)]
    assert await chat.dm("/同意", "u1") == [NOTHING_PENDING]


async def test_agree_twice_saves_once_and_says_nothing_is_pending(chat):
    await chat.signup("u1", "城市=北京")
    assert await chat.say("/agree", "u1") == [to("u1", NOTHING_PENDING)]


async def test_nickname_suggestion_keeps_only_the_nickname_part(chat):
    await chat.say("/signup 城市=北京; 行业=教育", "u1", name="上海-金融-张三")
    [done] = await chat.say("/agree", "u1", name="上海-金融-张三")
    assert done.endswith("建议群昵称：北京-教育-张三")


async def test_nickname_suggestion_follows_the_configured_format(make_chat):
    c = await make_chat(nickname_format="{城市}|{职位}|{昵称}")
    await c.say("/signup 城市=深圳; 职位=运营; 行业=电商", "u2")
    [done] = await c.say("/agree", "u2")
    assert done.endswith("建议群昵称：深圳|运营|李四")


async def test_nickname_suggestion_skips_missing_fields(chat):
    await chat.say("/signup 行业=教育", "u1")
    assert (await chat.say("/agree", "u1"))[0].endswith("建议群昵称：教育-张三")


async def test_english_keys(chat):
    [consent] = await chat.say("/signup City=Beijing; skills=growth, SEO; title=PM; company=ACME", "u1")
    assert consent.startswith("@张三 请确认你的资料：\n公司：ACME\n城市：Beijing\n职位：PM\n擅长：growth, SEO\n")
    await chat.say("/agree", "u1")
    [found] = await chat.say("/who seo", "u2")
    assert "1. 张三（PM · Beijing · ACME） — 擅长「seo」" in found


async def test_full_width_separators(chat):
    [consent] = await chat.say("/登记 城市＝北京；擅长＝增长；兴趣：跑步", "u1")
    assert consent.startswith("@张三 请确认你的资料：\n城市：北京\n擅长：增长\n兴趣：跑步\n")
    await chat.say("/同意", "u1")
    assert "擅长「增长」" in (await chat.say("/找人 增长", "u2"))[0]


@pytest.mark.parametrize("form, reply", [
    ("地址=朝阳区", f"没有「地址」这个字段。可用字段：{FIELDS}"),
    ("城市=北京; hobby=跑步", f"没有「hobby」这个字段。可用字段：{FIELDS}"),
    ("城市=", "「城市」不能为空。"),
    ("城市=北京; 擅长=  ", "「擅长」不能为空。"),
    ("城市=" + "北" * 21, "「城市」最多 20 个字，请精简一下。"),
    ("姓名=" + "张" * 21, "「姓名」最多 20 个字，请精简一下。"),
    ("擅长=" + "增长" * 51, "「擅长」最多 100 个字，请精简一下。"),
    ("城市=北京; 擅长增长", "看不懂「擅长增长」，请写成 字段=内容，多个字段用分号隔开。"),
    ("城市=\u200b\u200b", "「城市」不能为空。"),                  # nothing visible is nothing
    ("城市=北京; 擅长=\u2060\ufeff", "「擅长」不能为空。"),
])
async def test_bad_signup_input_gets_a_specific_reply_and_saves_nothing(chat, form, reply):
    assert await chat.say(f"/signup {form}", "u1") == [to("u1", reply)]
    assert await chat.say("/agree", "u1") == [to("u1", NOTHING_PENDING)]
    assert await chat.say("/profile", "u1") == [to("u1", NO_PROFILE)]


async def test_values_at_the_limit_are_accepted(chat):
    await chat.signup("u1", "城市=" + "北" * 20)
    assert (await chat.say("/profile", "u1"))[0] == "@张三 你的资料：\n城市：" + "北" * 20


async def test_emoji_and_mixed_scripts_are_kept_and_searchable(chat):
    [consent] = await chat.say("/signup 兴趣=跑步🏃‍♂️; 擅长=AI增长", "u1")
    assert "擅长：AI增长\n兴趣：跑步🏃‍♂️\n" in consent
    await chat.say("/agree", "u1")
    assert await chat.say("/profile", "u1") == [to("u1", "你的资料：\n擅长：AI增长\n兴趣：跑步🏃‍♂️")]
    assert "张三 — 兴趣「跑步」" in (await chat.say("/who 跑步", "u2"))[0]
    assert "张三 — 擅长「ai」" in (await chat.say("/who AI", "u2"))[0]
    assert "张三 — 擅长「增长」" in (await chat.say("/who 增长", "u2"))[0]
    assert await chat.say("/who @张三", "u2", mentions=["u1"]) == ["张三 的资料：\n擅长：AI增长\n兴趣：跑步🏃‍♂️"]


async def test_a_new_signup_replaces_the_old_profile(chat):
    await chat.signup("u1", "城市=北京; 擅长=增长")
    await chat.signup("u1", "城市=上海")
    assert await chat.say("/profile", "u1") == [to("u1", "你的资料：\n城市：上海")]
    assert await chat.say("/who 增长", "u2") == [to("u2", not_found("增长"))]


async def test_one_line_consent_expires(chat):
    await chat.say("/signup 城市=北京", "u1")
    assert await chat.say("/agree", "u1", step=timedelta(minutes=31)) == [to("u1", EXPIRED)]
    assert await chat.say("/profile", "u1") == [to("u1", NO_PROFILE)]


# ---- guided signup --------------------------------------------------------------------------------------

async def test_guided_signup_in_private_chat(chat):
    assert await chat.say("/signup", "u1") == [
        "@张三 我私聊你了，我们在私聊里一步步登记。",
        "我们来登记你的资料，一共 9 项，每项直接回复即可，不想填就回复「跳过」，随时发 /取消 放弃"
        "（30 分钟内没回复会自动结束）。\n（1/9）你的城市？例如：北京（最多 20 字）"]
    group_row, dm_row = chat.sent[-2:]
    assert group_row["room"] == "r1" and group_row["mentions"] == ["u1"]
    assert dm_row["user"] == "u1" and "room" not in dm_row

    answers = ["北京", "产品经理", "教育", "跳过", "增长, 文案", "跳过", "跑步", "张伟", "跳过"]
    questions = ["（2/9）你的职位？", "（3/9）你的行业？", "（4/9）你的发展路径？", "（5/9）你的擅长？",
                 "（6/9）你的诉求？", "（7/9）你的兴趣？", "（8/9）你的姓名？", "（9/9）你的公司？"]
    for answer, question in zip(answers, questions):
        [reply] = await chat.dm(answer, "u1")
        assert reply.startswith(question)
        assert chat.sent[-1]["user"] == "u1"
    [consent] = await chat.dm(answers[-1], "u1")
    assert consent.startswith("请确认你的资料：\n姓名：张伟\n城市：北京\n职位：产品经理\n行业：教育\n擅长：增长, 文案\n"
                              "兴趣：跑步\n\n分享范围：")
    assert await chat.say("/who 增长", "u2") == [to("u2", not_found("增长"))]

    assert await chat.dm("/agree", "u1") == [DONE]
    assert await chat.dm("/profile", "u1") == [
        "你的资料：\n姓名：张伟\n城市：北京\n职位：产品经理\n行业：教育\n擅长：增长, 文案\n兴趣：跑步"]
    assert "1. 张三（产品经理 · 北京 · 教育" in (await chat.say("/who 增长", "u2"))[0]


async def test_guided_signup_started_in_private_chat(chat):
    [intro] = await chat.dm("/登记", "u2")
    assert intro.endswith("（1/9）你的城市？例如：北京（最多 20 字）")
    assert [row for row in chat.sent if row.get("room")] == []


async def test_group_chat_is_not_taken_as_an_answer_when_the_flow_runs_in_private(chat):
    await chat.say("/signup", "u1")
    assert await chat.say("大家好，我是张三", "u1") == []
    [question] = await chat.dm("上海", "u1")
    assert question.startswith("（2/9）你的职位？")


async def test_guided_answer_that_is_too_long_is_asked_again(chat):
    await chat.dm("/signup", "u1")
    assert await chat.dm("北" * 21, "u1") == ["「城市」最多 20 个字，请精简一下。"]
    [question] = await chat.dm("北京", "u1")
    assert question.startswith("（2/9）你的职位？")


async def test_agree_before_the_guided_questions_are_done(chat):
    await chat.dm("/signup", "u1")
    await chat.dm("北京", "u1")
    assert await chat.dm("/agree", "u1") == ["登记还没填完，请先回答上面的问题（或回复「跳过」）。"]
    assert await chat.say("/profile", "u1") == [to("u1", NO_PROFILE)]


async def test_skipping_everything_saves_nothing(chat):
    await chat.dm("/signup", "u1")
    for _ in range(8):
        await chat.dm("跳过", "u1")
    assert await chat.dm("跳过", "u1") == ["你跳过了所有项目，没有需要保存的资料。想登记时再发 /登记。"]
    assert await chat.dm("/agree", "u1") == [NOTHING_PENDING]


async def test_cancel_mid_flow_saves_nothing(chat):
    await chat.say("/signup", "u1")
    await chat.dm("北京", "u1")
    await chat.dm("产品经理", "u1")
    assert await chat.dm("/取消", "u1") == ["已取消，什么都没有保存。"]
    assert await chat.dm("教育", "u1") == [DM_HINT]             # no longer an answer
    assert await chat.dm("/agree", "u1") == [NOTHING_PENDING]
    assert await chat.dm("/profile", "u1") == [NO_PROFILE]
    assert await chat.say("/who 北京", "u2") == [to("u2", not_found("北京"))]
    assert await chat.dm("/cancel", "u1") == ["现在没有进行中的登记或提问。"]


async def test_cancel_at_the_consent_step(chat):
    await chat.say("/signup 城市=北京", "u1")
    assert await chat.say("/cancel", "u1") == [to("u1", "已取消，什么都没有保存。")]
    assert await chat.say("/agree", "u1") == [to("u1", NOTHING_PENDING)]


async def test_guided_signup_times_out(chat):
    await chat.say("/signup", "u1")
    await chat.dm("北京", "u1")
    assert await chat.dm("产品经理", "u1", step=timedelta(minutes=31)) == [EXPIRED]
    assert await chat.dm("教育", "u1") == [DM_HINT]
    assert await chat.dm("/agree", "u1") == [NOTHING_PENDING]
    assert await chat.dm("/profile", "u1") == [NO_PROFILE]


async def test_each_answer_restarts_the_timeout(chat):
    await chat.dm("/signup", "u1")
    [question] = await chat.dm("北京", "u1", step=timedelta(minutes=29))
    assert question.startswith("（2/9）")
    [question] = await chat.dm("产品经理", "u1", step=timedelta(minutes=29))
    assert question.startswith("（3/9）")


async def test_signup_timeout_comes_from_config(make_chat):
    c = await make_chat(top_signup_timeout_minutes=5)
    [intro] = await c.dm("/signup", "u1")
    assert "（5 分钟内没回复会自动结束）" in intro
    assert await c.dm("北京", "u1", step=timedelta(minutes=6)) == [EXPIRED]


async def test_guided_signup_in_the_group_when_the_platform_cannot_dm(make_chat):
    c = await make_chat(capabilities=ALL_CAPABILITIES - {Capability.CAN_DM})
    [intro] = await c.say("/signup", "u1")
    assert intro.startswith("@张三 我们来登记你的资料")        # in a busy group: whose question this is
    assert intro.endswith("（1/9）你的城市？例如：北京（最多 20 字）")
    assert (c.sent[-1]["room"], c.sent[-1]["mentions"]) == ("r1", ["u1"])
    assert [row for row in c.sent if "user" in row] == []

    assert (await c.say("北京", "u1"))[0].startswith("@张三 （2/9）你的职位？")
    assert await c.say("我也是北京的", "u2") == []           # someone else's chat is not an answer
    assert (await c.say("跳过", "u1"))[0].startswith("@张三 （3/9）你的行业？")
    for answer in ("教育", "跳过", "增长", "跳过", "跳过", "跳过"):
        await c.say(answer, "u1")
    [consent] = await c.say("跳过", "u1")
    assert consent.startswith("@张三 请确认你的资料：\n城市：北京\n行业：教育\n擅长：增长\n\n分享范围：")
    assert c.sent[-1]["room"] == "r1"
    assert await c.say("哈哈", "u1") == []                    # chat while consent is pending stays chat
    assert await c.say("/agree", "u1") == [to("u1", DONE)]
    assert "1. 张三（北京 · 教育） — 擅长「增长」" in (await c.say("/who 增长", "u2"))[0]
    assert await c.say("今天天气不错", "u1") == []        # the flow is over: chat is chat again


async def test_consent_says_when_the_group_is_already_large(make_chat):
    c = await make_chat(privacy_threshold=4)
    [consent] = await c.say(f"/signup {FORM}", "u1")
    assert "本群已达到 4 人，姓名和公司只对群主可见" in consent


# ---- viewing, editing, deleting -------------------------------------------------------------------------

async def test_profile_before_signup(chat):
    assert await chat.say("/profile", "u1") == [to("u1", NO_PROFILE)]
    assert await chat.dm("/资料", "u1") == [NO_PROFILE]
    assert await chat.say("/profile 城市=上海", "u1") == [to("u1", NO_PROFILE)]
    assert await chat.say("/who 上海", "u2") == [to("u2", not_found("上海"))]


async def test_profile_below_the_privacy_threshold_shows_everything(chat):
    await chat.signup("u1", FORM)
    assert await chat.say("/profile", "u1") == [
        to("u1", "你的资料：\n姓名：张伟\n公司：某某科技\n城市：北京\n职位：产品经理\n行业：教育\n擅长：增长, 文案")]


async def test_profile_at_the_privacy_threshold(make_chat):
    c = await make_chat(privacy_threshold=4)
    await c.signup("u1", FORM)
    assert await c.dm("/profile", "u1") == [
        "你的资料：\n姓名：张伟\n公司：某某科技\n城市：北京\n职位：产品经理\n行业：教育\n擅长：增长, 文案"]
    assert await c.say("/profile", "u1") == [
        to("u1", "你的资料：\n城市：北京\n职位：产品经理\n行业：教育\n擅长：增长, 文案\n"
           "（姓名和公司不在群里显示，私聊我发送 /资料 可看到全部）")]


async def test_profile_edit(chat):
    await chat.signup("u1", "城市=北京; 行业=教育; 擅长=增长")
    assert await chat.say("/profile 城市=上海", "u1") == [to("u1", "已更新：城市。\n建议群昵称：上海-教育-张三")]
    assert await chat.say("/profile", "u1") == [to("u1", "你的资料：\n城市：上海\n行业：教育\n擅长：增长")]
    assert "1. 张三（上海 · 教育）" in (await chat.say("/who 上海", "u2"))[0]
    assert await chat.say("/who 北京", "u2") == [to("u2", not_found("北京"))]
    assert await chat.say("/资料 兴趣=读书；职位=运营", "u1") == ["@张三 已更新：兴趣、职位。\n建议群昵称：上海-教育-张三"]
    assert "1. 张三（运营 · 上海 · 教育） — 兴趣「读书」" in (await chat.say("/who 读书", "u2"))[0]


async def test_profile_edit_with_bad_input_changes_nothing(chat):
    await chat.signup("u1", "城市=北京")
    assert await chat.say("/profile 城市=", "u1") == [to("u1", "「城市」不能为空。")]
    assert await chat.say("/profile 城市=上海; 爱好=跑步", "u1") == [to("u1", f"没有「爱好」这个字段。可用字段：{FIELDS}")]
    assert await chat.say("/profile", "u1") == [to("u1", "你的资料：\n城市：北京")]


async def test_profile_delete_asks_first(chat):
    await chat.signup("u1", "城市=北京; 擅长=增长")
    assert await chat.say("/profile 删除", "u1") == [
        "@张三 这会删除你的资料和个人信息，账本和问答里的名字将换成匿名编号，金额保留。确定的话请发送：/资料 删除 确认"]
    assert await chat.say("/profile", "u1") == [to("u1", "你的资料：\n城市：北京\n擅长：增长")]
    assert "1. 张三" in (await chat.say("/who 增长", "u2"))[0]


async def test_profile_delete_confirmed(chat):
    await chat.say("早上好", "u1")
    await chat.signup("u1", "城市=北京; 擅长=增长; 姓名=张伟")
    before = await member_row(chat, "u1")
    assert await chat.say("/资料 删除 确认", "u1") == [to("u1", "你的资料和个人信息已删除。")]

    async with chat.app.sessions() as db:
        old = await db.get(Member, before.id)
        assert await db.get(Profile, before.id) is None
    assert old.display_name == f"已注销成员#{before.id}"
    assert old.user_id != "u1" and old.deleted_at is not None

    assert await chat.say("/who 增长", "u2") == [to("u2", not_found("增长"))]
    assert await chat.say("/who 北京", "u2") == [to("u2", not_found("北京"))]
    # Still in the group: a member without a profile, not linked to the pseudonymised row.
    assert await chat.say("大家好", "u1") == []
    assert await chat.dm("/profile", "u1") == [NO_PROFILE]
    assert await chat.say("/who @张三", "u2", mentions=["u1"]) == ["张三 还没有登记资料。"]
    assert (await member_row(chat, "u1")).id != before.id


async def test_profile_delete_drops_a_pending_signup(chat):
    await chat.say("/signup 城市=北京", "u1")
    await chat.say("/profile 删除 确认", "u1")
    assert await chat.say("/agree", "u1") == [to("u1", NOTHING_PENDING)]


async def test_profile_delete_with_a_wrong_word(chat):
    await chat.signup("u1", "城市=北京")
    assert await chat.say("/profile 删除 好的", "u1") == [
        "@张三 用法：/资料 查看；/资料 城市=上海 修改；/资料 删除 删除全部个人数据"]
    assert await chat.say("/profile", "u1") == [to("u1", "你的资料：\n城市：北京")]


async def test_combining_marks_count_against_the_column_too(chat):
    """Looks like 20 letters, is 60 code points: refused with the limit, never a database error."""
    assert await chat.say("/signup 城市=" + "e\u0301\u0302" * 20, "u1") == [to("u1", "「城市」最多 20 个字，请精简一下。")]


async def test_agree_after_the_timeout_says_so_once(chat):
    await chat.say(f"/signup {FORM}", "u1")
    await chat.driver.advance_to(chat.clock.now() + timedelta(minutes=31))
    assert await chat.say("/agree", "u1") == [to("u1", EXPIRED)]
    assert await chat.say("/agree", "u1") == [to("u1", "没有等待确认的登记。发送 /登记 开始。")]


async def test_english_community_speaks_english_throughout(make_chat):
    c = await make_chat(locale="en", privacy_threshold=3)
    [consent] = await c.say("/signup city=Beijing; title=PM; skills=growth, copywriting; looking for=a co-founder; "
                            "name=Wei Zhang", "u1")
    assert consent.startswith("@张三 Please confirm your profile:\nCity: Beijing\nTitle: PM\n"
                              "Skills: growth, copywriting\nLooking for: a co-founder\n(Name: received, not shown in "
                              "this group, which has reached the privacy size; only owners see this, in private "
                              "chat)\n")
    assert "the group has reached 3 members, so your name and company are visible to owners only" in consent
    await c.say("/agree", "u1")
    [found] = await c.say("/who growth", "u2")
    assert '1. 张三 (PM · Beijing) — Skills "growth"' in found
    [roles] = await c.say("/roles", "u2")
    assert "owner: 老王" in roles
    [unknown] = await c.say("/signup hobby=chess", "u1")
    assert unknown == ("@张三 There's no \"hobby\" field. Available fields: Name, Company, City, Title, Industry, "
                       "Career path, Skills, Looking for, Interests")
    [listing] = await c.say("/help", "u2")
    assert "/signup (/登记) — " in listing
