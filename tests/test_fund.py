"""The group fund's open ledger: recording income, its permissions and amounts, reversing entries, /fund and its log.

Payouts, /fund paid and undoing money already paid out are in test_rewards.py.
"""
import pytest

from tests.conftest import to

FORBIDDEN = "这个命令需要「财务」权限。"
LOG_EMPTY = "账本里还没有记录。"
IN_USAGE = "用法：/基金 入账 @成员 金额 类别 [备注]，例如 /基金 入账 @张三 200 入群费（类别：入群费、运营费、捐赠）"
EMPTY_FUND = ("「增长学习社」基金 · 公开账本\n"
              "奖励池：¥0.00 可分配（另有待付奖励 ¥0.00）\n"
              "本周奖池：¥0.00 = ¥0.00 ÷ 剩余 52 周（至 2027.11.22）\n"
              "运营账户：¥0.00（值班版主津贴）\n"
              "累计收入 ¥0.00：入群费 ¥0.00 · 运营费 ¥0.00 · 捐赠 ¥0.00；已付出奖励 ¥0.00\n"
              "每一笔：/基金 流水")


def fund_line(text: str, start: str) -> str:
    """The line of /fund that starts with `start`."""
    [line] = [candidate for candidate in text.split("\n") if candidate.startswith(start)]
    return line


# ---- income by category --------------------------------------------------------------------------------------

async def test_income_of_each_category_lands_in_its_account_and_fund_shows_the_balances(chat):
    assert await chat.say("/fund in @张三 200 入群费", "u_owner", mentions=["u1"]) == [
        "已记账 #1：入群费 ¥200.00，来自 张三，计入奖励池。"]
    assert await chat.say("/基金 入账 @李四 30 运营费 十一月", "u_owner", mentions=["u2"]) == [
        "已记账 #2：运营费 ¥30.00，来自 李四，计入运营账户。"]
    assert await chat.say("/fund in ¥5,000 捐赠", "u_owner") == [
        "已记账 #3：捐赠 ¥5,000.00，来自 未署名，计入奖励池。"]

    # The pool (entry fees and donations) is spread over the 52 weeks from the community's start.
    weekly = (200_00 + 5_000_00) // 52
    assert weekly == 100_00
    assert await chat.say("/fund", "u1") == [
        "「增长学习社」基金 · 公开账本\n"
        "奖励池：¥5,200.00 可分配（另有待付奖励 ¥0.00）\n"
        "本周奖池：¥100.00 = ¥5,200.00 ÷ 剩余 52 周（至 2027.11.22）\n"
        "运营账户：¥30.00（值班版主津贴）\n"
        "累计收入 ¥5,230.00：入群费 ¥200.00 · 运营费 ¥30.00 · 捐赠 ¥5,000.00；已付出奖励 ¥0.00\n"
        "每一笔：/基金 流水"]
    assert await chat.say("/fund log", "u2") == [
        "最近 3 笔（新的在前）：\n"
        "#3 11.23 捐赠 ¥5,000.00 · 未署名 · 老王 记账\n"
        "#2 11.23 运营费 ¥30.00 · 李四（十一月） · 老王 记账\n"
        "#1 11.23 入群费 ¥200.00 · 张三 · 老王 记账"]


@pytest.mark.parametrize("word, kind, account", [
    ("入群", "入群费", "奖励池"), ("entry", "入群费", "奖励池"),
    ("运营", "运营费", "运营账户"), ("ops", "运营费", "运营账户"),
    ("赞助", "捐赠", "奖励池"), ("other", "捐赠", "奖励池"), ("Donation", "捐赠", "奖励池"),
])
async def test_category_words_in_chinese_and_english(chat, word, kind, account):
    assert await chat.say(f"/fund in 50 {word}", "u_owner") == [f"已记账 #1：{kind} ¥50.00，来自 未署名，计入{account}。"]


async def test_an_empty_fund(chat):
    assert await chat.say("/基金", "u1") == [EMPTY_FUND]
    assert await chat.say("/fund log", "u1") == [to("u1", LOG_EMPTY)]


# ---- who may record ------------------------------------------------------------------------------------------

async def test_a_member_cannot_record_income_and_nothing_is_recorded(chat):
    assert await chat.say("/fund in @张三 200 入群费", "u1", mentions=["u1"]) == [to("u1", FORBIDDEN)]
    assert await chat.say("/基金 入账 5000 捐赠", "u2") == [to("u2", FORBIDDEN)]
    assert await chat.say("/fund log", "u1") == [to("u1", LOG_EMPTY)]
    assert await chat.say("/fund", "u1") == [EMPTY_FUND]


async def test_a_treasurer_named_in_config_records_income(make_chat):
    c = await make_chat(treasurers=["u3"])
    assert await c.say("/fund in @张三 200 入群费", "u3", mentions=["u1"]) == [
        "已记账 #1：入群费 ¥200.00，来自 张三，计入奖励池。"]
    assert await c.say("/fund in 200 入群费", "u2") == [to("u2", FORBIDDEN)]          # other members still may not
    assert await c.say("/fund log", "u2") == ["最近 1 笔（新的在前）：\n#1 11.23 入群费 ¥200.00 · 张三 · 王五 记账"]
    assert fund_line((await c.say("/fund", "u1"))[0], "奖励池") == "奖励池：¥200.00 可分配（另有待付奖励 ¥0.00）"


async def test_undo_is_for_treasurers_too(chat):
    await chat.say("/fund in 200 入群费", "u_owner")
    assert await chat.say("/fund undo 1", "u1") == [to("u1", FORBIDDEN)]
    assert await chat.say("/fund log", "u1") == ["最近 1 笔（新的在前）：\n#1 11.23 入群费 ¥200.00 · 未署名 · 老王 记账"]


# ---- what was typed wrong ------------------------------------------------------------------------------------

@pytest.mark.parametrize("amount, reply", [
    ("2x0", "「2x0」不是金额。写法如 200、¥1,000.50、200元（最多两位小数）。"),
    ("abc", "「abc」不是金额。写法如 200、¥1,000.50、200元（最多两位小数）。"),
    ("1.234", "「1.234」的小数超过两位，金额精确到分。"),
    ("-5", "金额不能是负数；记错了请用 /基金 撤销 编号。"),
    ("0", "金额必须大于 0。"),
    ("999999999999", "「999999999999」太大了，请检查是否多打了数字。"),
    ("1" * 5000, "「" + "1" * 19 + "…」太大了，请检查是否多打了数字。"),     # beyond what int() reads at all
    ("0" * 5000 + "1" * 5000, "「" + "0" * 19 + "…」太大了，请检查是否多打了数字。"),
    ("²００", "「²００」不是金额。写法如 200、¥1,000.50、200元（最多两位小数）。"),   # digits, but not ASCII ones
    ("٣٠٠", "「٣٠٠」不是金额。写法如 200、¥1,000.50、200元（最多两位小数）。"),
])
async def test_malformed_amounts_are_refused_with_their_reason_and_nothing_is_recorded(chat, amount, reply):
    assert await chat.say(f"/fund in @张三 {amount} 入群费", "u_owner", mentions=["u1"]) == [to("u_owner", reply)]
    assert await chat.say("/fund log", "u_owner") == [to("u_owner", LOG_EMPTY)]


async def test_amounts_in_the_forms_treasurers_type(chat):
    assert await chat.say("/fund in ¥1,000.50 捐赠", "u_owner") == ["已记账 #1：捐赠 ¥1,000.50，来自 未署名，计入奖励池。"]
    assert await chat.say("/fund in 200元 入群费", "u_owner") == ["已记账 #2：入群费 ¥200.00，来自 未署名，计入奖励池。"]
    assert await chat.say("/fund in ￥3 运营费", "u_owner") == ["已记账 #3：运营费 ¥3.00，来自 未署名，计入运营账户。"]


async def test_unknown_category_is_refused_with_the_choices(chat):
    assert await chat.say("/fund in @张三 200 会费", "u_owner", mentions=["u1"]) == [
        "@老王 没有「会费」这个类别，可选：入群费、运营费、捐赠。"]
    assert await chat.say("/fund log", "u_owner") == [to("u_owner", LOG_EMPTY)]


@pytest.mark.parametrize("text", ["/fund in", "/fund in @张三 200", "/fund in @张三"])
async def test_income_needs_an_amount_and_a_category(chat, text):
    assert await chat.say(text, "u_owner", mentions=["u1"]) == [to("u_owner", IN_USAGE)]


async def test_one_payer_per_entry(chat):
    assert await chat.say("/fund in @张三 @李四 400 入群费", "u_owner", mentions=["u1", "u2"]) == [
        "@老王 一次只能记一位成员的收入。"]


async def test_a_long_note_is_refused(chat):
    assert await chat.say("/fund in 200 捐赠 " + "谢" * 51, "u_owner") == [to("u_owner", "备注太长了，最多 50 字。")]
    assert await chat.say("/fund log", "u_owner") == [to("u_owner", LOG_EMPTY)]


async def test_unknown_subcommand_gets_the_usage(chat):
    assert await chat.say("/fund spend 200", "u_owner") == [
        "@老王 用法：/基金；/基金 流水；记账：/基金 入账 @成员 200 入群费；/基金 撤销 编号；/基金 已付 @成员"]


# ---- once per message ----------------------------------------------------------------------------------------

async def test_a_redelivered_message_records_once(chat):
    assert await chat.say("/fund in @张三 200 入群费", "u_owner", mentions=["u1"], id="m1") == [
        "已记账 #1：入群费 ¥200.00，来自 张三，计入奖励池。"]
    assert await chat.say("/fund in @张三 200 入群费", "u_owner", mentions=["u1"], id="m1") == []
    assert await chat.say("/fund log", "u1") == ["最近 1 笔（新的在前）：\n#1 11.23 入群费 ¥200.00 · 张三 · 老王 记账"]
    [shown] = await chat.say("/fund", "u1")
    assert fund_line(shown, "奖励池") == "奖励池：¥200.00 可分配（另有待付奖励 ¥0.00）"
    assert fund_line(shown, "累计收入").startswith("累计收入 ¥200.00：入群费 ¥200.00 ·")


async def test_the_same_income_typed_twice_is_two_entries(chat):
    await chat.say("/fund in 200 入群费", "u_owner")
    await chat.say("/fund in 200 入群费", "u_owner")
    assert fund_line((await chat.say("/fund", "u1"))[0], "奖励池") == "奖励池：¥400.00 可分配（另有待付奖励 ¥0.00）"


# ---- corrections by reversing entries ------------------------------------------------------------------------

async def test_undo_reverses_an_entry_and_the_log_shows_it(chat):
    await chat.say("/fund in @张三 200 入群费", "u_owner", mentions=["u1"])
    await chat.say("/fund in 30 运营费", "u_owner")
    await chat.say("/fund in 5,200 捐赠", "u_owner")
    assert await chat.say("/fund undo 1 记错人了", "u_owner") == ["已冲销 #1（入群费 ¥200.00），冲销记录为 #4。"]
    assert await chat.say("/基金 撤销 #2", "u_owner") == ["已冲销 #2（运营费 ¥30.00），冲销记录为 #5。"]

    [shown] = await chat.say("/fund", "u1")
    assert fund_line(shown, "奖励池") == "奖励池：¥5,200.00 可分配（另有待付奖励 ¥0.00）"
    assert fund_line(shown, "运营账户") == "运营账户：¥0.00（值班版主津贴）"
    assert fund_line(shown, "累计收入") == \
        "累计收入 ¥5,200.00：入群费 ¥0.00 · 运营费 ¥0.00 · 捐赠 ¥5,200.00；已付出奖励 ¥0.00"
    assert await chat.say("/fund log", "u1") == [
        "最近 5 笔（新的在前）：\n"
        "#5 11.23 冲销 #2 ¥30.00 · 未署名 · 老王 记账\n"
        "#4 11.23 冲销 #1 ¥200.00 · 张三（记错人了） · 老王 记账\n"
        "#3 11.23 捐赠 ¥5,200.00 · 未署名 · 老王 记账\n"
        "#2 11.23 运营费 ¥30.00 · 未署名 · 老王 记账\n"
        "#1 11.23 入群费 ¥200.00 · 张三 · 老王 记账"]


async def test_undo_twice_is_refused(chat):
    await chat.say("/fund in 200 入群费", "u_owner")
    await chat.say("/fund undo 1", "u_owner")
    assert await chat.say("/fund undo 1", "u_owner") == [to("u_owner", "#1 已经被 #2 冲销过了。")]
    assert await chat.say("/fund undo 2", "u_owner") == [to("u_owner", "#2 本身是一笔冲销，不能再撤销；如需恢复请重新记账。")]
    [shown] = await chat.say("/fund", "u1")
    assert fund_line(shown, "奖励池") == "奖励池：¥0.00 可分配（另有待付奖励 ¥0.00）"
    assert (await chat.say("/fund log", "u1"))[0].startswith("最近 2 笔（新的在前）：")


async def test_each_entry_is_undone_on_its_own(chat):
    await chat.say("/fund in 200 入群费", "u_owner")
    await chat.say("/fund in 100 捐赠", "u_owner")
    await chat.say("/fund undo 1", "u_owner")
    assert await chat.say("/fund undo 2", "u_owner") == ["已冲销 #2（捐赠 ¥100.00），冲销记录为 #4。"]
    assert fund_line((await chat.say("/fund", "u1"))[0], "奖励池") == "奖励池：¥0.00 可分配（另有待付奖励 ¥0.00）"


@pytest.mark.parametrize("text, reply", [
    ("/fund undo 9", "没有第 9 笔账。发送 /基金 流水 查看编号。"),
    ("/fund undo", "用法：/基金 撤销 编号（编号见 /基金 流水）"),
    ("/fund undo x", "用法：/基金 撤销 编号（编号见 /基金 流水）"),
    ("/fund undo -1", "用法：/基金 撤销 编号（编号见 /基金 流水）"),
    ("/基金 撤销 ²", "用法：/基金 撤销 编号（编号见 /基金 流水）"),
    ("/基金 撤销 ⑴", "用法：/基金 撤销 编号（编号见 /基金 流水）"),
    ("/基金 撤销 １", "用法：/基金 撤销 编号（编号见 /基金 流水）"),
    ("/基金 撤销 " + "9" * 5000, "用法：/基金 撤销 编号（编号见 /基金 流水）"),
])
async def test_undo_of_what_is_not_there(chat, text, reply):
    await chat.say("/fund in 200 入群费", "u_owner")
    assert await chat.say(text, "u_owner") == [to("u_owner", reply)]
    assert fund_line((await chat.say("/fund", "u1"))[0], "奖励池") == "奖励池：¥200.00 可分配（另有待付奖励 ¥0.00）"


# ---- the log -------------------------------------------------------------------------------------------------

async def test_the_log_pages_through_every_entry_newest_first(chat):
    for n in range(1, 33):
        await chat.say(f"/fund in {n} 捐赠", "u_owner")
    [log] = await chat.say("/基金 流水", "u1")
    lines = log.split("\n")
    assert lines[0] == "共 32 笔，第 1/3 页（新的在前）："
    assert lines[1] == "#32 11.23 捐赠 ¥32.00 · 未署名 · 老王 记账"
    assert lines[15] == "#18 11.23 捐赠 ¥18.00 · 未署名 · 老王 记账"
    assert lines[16:] == ["更早的记录：/基金 流水 2"]
    [page2] = await chat.say("/基金 流水 2", "u1")
    assert page2.split("\n")[0] == "共 32 笔，第 2/3 页（新的在前）："
    assert page2.split("\n")[1] == "#17 11.23 捐赠 ¥17.00 · 未署名 · 老王 记账"
    assert page2.endswith("#3 11.23 捐赠 ¥3.00 · 未署名 · 老王 记账\n更早的记录：/基金 流水 3")
    [page3] = await chat.say("/fund log 3", "u1")
    assert page3 == ("共 32 笔，第 3/3 页（新的在前）：\n#2 11.23 捐赠 ¥2.00 · 未署名 · 老王 记账\n"
                     "#1 11.23 捐赠 ¥1.00 · 未署名 · 老王 记账")     # the oldest entry, and no more pages


@pytest.mark.parametrize("text, reply", [
    ("/基金 流水 4", "账本只有 3 页，没有第 4 页。"),
    ("/基金 流水 0", "用法：/基金 流水 [页码]，例如 /基金 流水 2 查看更早的记录"),
    ("/基金 流水 二", "用法：/基金 流水 [页码]，例如 /基金 流水 2 查看更早的记录"),
    ("/基金 流水 ²", "用法：/基金 流水 [页码]，例如 /基金 流水 2 查看更早的记录"),
])
async def test_a_log_page_that_is_not_there(chat, text, reply):
    for n in range(1, 32):
        await chat.say(f"/fund in {n} 捐赠", "u_owner")
    assert await chat.say(text, "u1") == [to("u1", reply)]


# ---- the verbs, declared ---------------------------------------------------------------------------------------

async def test_a_members_fund_in_is_refused_by_the_router_before_the_handler_runs(chat):
    import dataclasses

    fund_spec = chat.app.runtime.commands.get("基金")
    verb = fund_spec.subcommand("入账")
    ran = []

    async def spy(ctx):
        ran.append(ctx.sender_id)
        await verb.handler(ctx)

    fund_spec.subcommands[fund_spec.subcommands.index(verb)] = dataclasses.replace(verb, handler=spy)
    assert await chat.say("/基金 入账 200 捐赠", "u1") == [to("u1", "这个命令需要「财务」权限。")]
    assert ran == []
    assert (await chat.say("/基金 入账 200 捐赠", "u_owner"))[0].startswith("已记账 #1")
    assert ran == ["u_owner"]


async def test_help_of_the_fund_lists_its_verbs_with_their_roles(chat):
    [shown] = await chat.say("/帮助 基金", "u1")
    assert shown.split("\n")[-5:] == [
        "子命令：",
        "/基金 入账 /fund in — 记一笔收入：入群费、运营费或捐赠（财务）",
        "/基金 撤销 /fund undo — 冲销记错的一笔（每笔只能冲销一次，原记录不改）（财务）",
        "/基金 已付 /fund paid — 确认奖励已线下付清（财务）",
        "/基金 流水 /fund log — 每一笔账，新的在前，每页 15 笔"]
    [verb] = await chat.say("/帮助 基金 入账", "u1")
    assert verb.startswith("/基金 入账 /基金 收入 /fund in\n记一笔收入")


async def test_an_unknown_fund_verb_gets_the_usage(chat):
    assert await chat.say("/基金 转账 100", "u_owner") == [
        "@老王 用法：/基金；/基金 流水；记账：/基金 入账 @成员 200 入群费；/基金 撤销 编号；/基金 已付 @成员"]
