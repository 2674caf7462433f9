"""The owners' weekly report: every figure on a known history, n/a where the platform cannot see, the chart (a
valid PNG sent once, in a font that has every label's glyphs), delivery and its faults."""
from __future__ import annotations

import re
import struct
from datetime import timedelta
from pathlib import Path

import pytest

from bot import i18n
from bot.adapters.base import SendError
from handlers import report_chart
from tests.conftest import sh, to

OWNER = "u_owner"
MEMBERS = ("u_owner", "u1", "u2", "u3")


@pytest.fixture
async def chat(make_chat, tmp_path):
    return await make_chat(members=MEMBERS, report={"weekly": True}, top_charts_dir=str(tmp_path / "charts"))


async def two_weeks(chat) -> None:
    """Week 1 (11.23–11.29): Q1 answered in 2 hours and tipped, ¥1,000 donated. Week 2 (11.30–12.6): 赵六 joins,
    王五 leaves, three chat messages, Q2 answered in 30 minutes (best) and Q3 unanswered, ¥500 donated."""
    await chat.say("/提问 怎么做用户增长\n我们是教育产品", "u1", at=sh("2026-11-23T10:00:00"))
    await chat.say("/回答 Q1 先做留存再做增长", "u2", at=sh("2026-11-23T12:00:00"))
    await chat.say("/打赏 A1 10", "u1")
    await chat.say("/基金 入账 1000 捐赠", OWNER, at=sh("2026-11-24T10:00:00"))
    await chat.tick(sh("2026-11-30T09:30:00"))
    await chat.join("u4", at=sh("2026-11-30T10:00:00"))
    await chat.say("大家好", "u1", at=sh("2026-11-30T11:00:00"))
    await chat.say("今天讨论什么", "u1")
    await chat.say("你好，我是新来的", "u4")
    await chat.tick(sh("2026-12-01T09:00:00"))
    await chat.leave("u3")
    await chat.say("/提问 私域怎么做留存", "u4", at=sh("2026-12-01T10:00:00"))
    await chat.say("/回答 Q2 先分层运营", "u1", at=sh("2026-12-01T10:30:00"))
    await chat.say("/回答 Q2 看数据再定", "u2", at=sh("2026-12-01T12:00:00"))
    await chat.say("/最佳 Q2 A2", "u4")
    await chat.say("/提问 社群怎么冷启动", "u4", at=sh("2026-12-02T10:00:00"))
    await chat.say("/基金 入账 500 捐赠", OWNER, at=sh("2026-12-02T11:00:00"))


def texts_to(rows, user: str) -> list[str]:
    return [r["text"] for r in rows if r.get("user") == user and r["type"] == "say"]


WEEK_2 = [
    "📈 运营报告 · 增长学习社 · 11.30–12.6",
    "👥 成员",
    "新进 1 · 退出 1 · 净增 +0 · 现有 4",
    "活跃成员 4 人（占 100.0%；健康的群在 8–10%）",
    "消息 3 条",
    "❓ 问答",
    "提问 2 · 已回答 1 · 未回答 1 · 首次回答用时中位数 30 分",
    "💰 基金",
    # ¥1,490.39 at the week's end, less this week's payout (2,922 fen: 50% + 30% of it, two scorers) = ¥1,467.02;
    # owed: last week's 961 fen + this week's 2,337; next week's pool 146,702 // 50 weeks left.
    "奖励池 ¥1,467.02 · 本周奖池 ¥29.34 · 待发奖励 ¥32.98 · 运营账户 ¥0.00 · 待发津贴 ¥0.00",
    "👮 值班版主",
    "最近两期没有人值班，由群主负责；成员可以发送 /值班 报名 参与轮值。",
    "😶 不活跃成员",
    "30–59 天：0 人 —",
    "60–89 天：0 人 —",
    "90 天以上：0 人 —",
    "⭐ 本周最佳回答",
    "1. A2 张三 · Q2「私域怎么做留存」· 收到 0 分 · 最佳",
    "🤝 本周邀请",
    "本周没有成员通过邀请加入。",
    "📊 与上周相比",
    "新进 ↑1（0 → 1）",
    "退出 ↑1（0 → 1）",
    "活跃成员 ↑1（3 → 4）",
    "消息 ↑3（0 → 3）",
    "提问 ↑1（1 → 2）",
    "已回答 持平（1 → 1）",
    # ¥1,000 less week 1's payout (961 fen), plus ¥500.
    "奖励池（周末余额） ↑¥490.39（¥1,000.00 → ¥1,490.39）",
    "（这是给群主的运营报告；成员看的群聊周报是 /周报。）",
]


async def test_every_figure_of_a_known_week(chat):
    await two_weeks(chat)
    rows = await chat.tick(sh("2026-12-07T09:00:00"))
    assert [t.split("\n") for t in texts_to(rows, OWNER)] == [WEEK_2]
    images = [r for r in rows if r["type"] == "image"]
    assert [(r["user"], r["caption"]) for r in images] == [(OWNER, "📈 最近 12 周趋势（最后一周 11.30–12.6）")]
    assert_png(Path(images[0]["path"]))
    # Nobody else hears about it.
    assert not [r for r in rows if r.get("user") not in (None, OWNER)]


def assert_png(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and data.endswith(b"IEND\xaeB`\x82")
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (900, 600)
    return width, height


async def test_the_first_week_has_nothing_to_compare(chat):
    await chat.say("/提问 怎么做用户增长", "u1")
    rows = await chat.tick(sh("2026-11-30T09:00:00"))
    report = texts_to(rows, OWNER)[0].split("\n")
    assert report[report.index("📊 与上周相比") + 1] == "这是社群的第一周，还没有上周可比。"


async def test_a_week_without_any_activity_is_reported_as_such(chat):
    await chat.tick(sh("2026-11-30T09:00:00"))
    rows = await chat.tick(sh("2026-12-07T09:00:00"))
    report = texts_to(rows, OWNER)[0].split("\n")
    assert report[:4] == ["📈 运营报告 · 增长学习社 · 11.30–12.6", "这一周没有任何活动：没人进群、退群、发言、提问或签到。",
                          "👥 成员", "新进 0 · 退出 0 · 净增 +0 · 现有 4"]
    assert "活跃成员 0 人（占 0.0%；健康的群在 8–10%）" in report
    assert "本周没有被打赏或选为最佳的回答。" in report
    assert len([r for r in rows if r["type"] == "image"]) == 1


async def test_inactive_members_by_30_60_and_90_days(chat):
    """张三 speaks every week; 李四 stops after the first, 王五 after about five weeks; 老王 never speaks."""
    await chat.say("大家好", "u2", at=sh("2026-11-23T10:00:00"))
    await chat.say("在的", "u3")
    week = sh("2026-11-23T10:00:00")
    for n in range(14):
        await chat.say(f"第 {n} 周", "u1", at=week + timedelta(weeks=n))
        if n <= 5:
            await chat.say("我也在", "u3", at=week + timedelta(weeks=n, minutes=5))
    rows = await chat.tick(sh("2027-03-01T09:00:00"))
    report = texts_to(rows, OWNER)[-1].split("\n")
    at = report.index("😶 不活跃成员")
    # The week ends 3.1 00:00: 李四 last spoke 11.23 (97 days), 老王 never (98 days on the roster), 王五 on 12.28.
    assert report[at + 1:at + 4] == ["30–59 天：0 人 —", "60–89 天：1 人 王五", "90 天以上：2 人 李四、老王"]


async def test_inactive_names_are_capped(make_chat, tmp_path):
    chat = await make_chat(members=MEMBERS, report={"weekly": True, "listed": 1},
                           top_charts_dir=str(tmp_path / "charts"))
    rows = await chat.tick(sh("2027-03-01T09:00:00"))
    report = texts_to(rows, OWNER)[-1].split("\n")
    assert "90 天以上：4 人 张三 等 3 人" in report or any(line.startswith("90 天以上：4 人 ") and "等 3 人" in line
                                                   for line in report)


MENTION_ONLY = frozenset()      # WeCom: only @-messages, no joins, no member list, no private chats, no files


async def test_on_a_mention_only_platform_figures_it_cannot_see_are_na(make_chat, tmp_path):
    chat = await make_chat(capabilities=MENTION_ONLY, members=(), report={"weekly": True, "owners_room": "r_owners"},
                           groups=[{"room": "r1", "size": 40}], top_charts_dir=str(tmp_path / "charts"))
    await chat.say("@群助手 /提问 怎么做用户增长", "u1")
    await chat.say("@群助手 /回答 Q1 先做留存", "u2", step=timedelta(hours=1))
    rows = await chat.tick(sh("2026-11-30T09:00:00"))
    posted = [r for r in rows if r.get("room") == "r_owners"]
    assert [r["type"] for r in posted] == ["say"]
    report = posted[0]["text"].split("\n")
    assert report[2:5] == [
        "新进、退出、净增 n/a（平台不通知进群退群） · 现有 40",
        "活跃成员 n/a（平台只让机器人看到 @ 它的消息）；用过机器人命令的 2 人",
        "消息 n/a（平台只让机器人看到 @ 它的消息）",
    ]
    assert "提问 1 · 已回答 1 · 未回答 0 · 首次回答用时中位数 1 小时 0 分" in report
    assert report[report.index("😶 不活跃成员") + 1] == "n/a（平台只让机器人看到 @ 它的消息）"
    assert report[-1] == ("（趋势图没有发：这个平台只能通过群机器人 webhook 发图片，请在 config.yaml 设置 "
                          "report.owners_room 和它的 webhook_key。）")
    assert not [r for r in rows if r.get("user")]


async def test_where_no_member_list_comes_the_groups_read_their_size_from_the_config(make_chat, tmp_path):
    chat = await make_chat(capabilities=MENTION_ONLY, members=(), report={"weekly": True, "owners_room": "r_owners"},
                           groups=[{"room": "r1", "size": 40}, {"room": "r2"}], top_charts_dir=str(tmp_path / "c"))
    rows = await chat.tick(sh("2026-11-30T09:00:00"))
    [report] = [r["text"] for r in rows if r.get("room") == "r_owners" and r["text"].startswith("📈 运营报告")]
    lines = report.split("\n")
    assert lines[lines.index("🏘️ 各群") + 1:lines.index("🏘️ 各群") + 3] == [
        "· r1（未分层）：成员 40", "· r2（未分层）：成员 n/a"]


async def test_on_wecom_the_chart_goes_to_the_owners_group_webhook(make_chat, tmp_path):
    chat = await make_chat(capabilities=MENTION_ONLY, members=(), report={"weekly": True, "owners_room": "r_owners"},
                           groups=[{"room": "r1"}, {"room": "r_owners", "webhook_key": "k"}],
                           top_charts_dir=str(tmp_path / "charts"))
    rows = await chat.tick(sh("2026-11-30T09:00:00"))
    posted = [(r["type"], r.get("room")) for r in rows if r.get("room") == "r_owners"]
    assert posted == [("say", "r_owners"), ("image", "r_owners")]
    assert "现有 n/a（平台不提供成员列表，config.yaml 也没写群人数）" in [r for r in rows if r["type"] == "say"
                                                                         and r.get("room") == "r_owners"][0]["text"]


async def test_sent_once_across_a_restart(chat):
    await chat.say("/提问 怎么做用户增长", "u1")
    rows = await chat.tick(sh("2026-11-30T09:00:00"))
    await chat.driver.restart(sh("2026-11-30T09:05:00"))
    rows += await chat.tick(sh("2026-12-01T09:00:00"))
    assert len(texts_to(rows, OWNER)) == 1
    assert len([r for r in rows if r["type"] == "image"]) == 1


async def test_a_restart_while_the_report_is_due_sends_it_once_late(chat):
    """The bot is down over the report's time: it is sent when the bot is back, once."""
    await chat.tick(sh("2026-11-30T08:00:00"))
    await chat.driver.restart(sh("2026-11-30T12:00:00"))
    await chat.tick(sh("2026-12-02T13:00:00"))
    reports = texts_to(chat.sent, OWNER)
    assert len(reports) == 1
    assert reports[0].split("\n")[0] == "📈 运营报告 · 增长学习社 · 11.23–11.29"


async def test_a_refused_chart_leaves_the_text_and_tells_the_owner(chat):
    adapter = chat.driver.adapter
    original = adapter.send

    async def refuse_images(out):
        if out.kind == "image":
            raise SendError("image too large", transient=False)
        await original(out)

    adapter.send = refuse_images
    rows = await chat.tick(sh("2026-11-30T09:00:00"))
    told = texts_to(rows, OWNER)
    assert told[0].startswith("📈 运营报告")
    assert told[1:] == ["运营报告的趋势图没有发出去（image too large）；文字报告已经发了。"]
    assert not [r for r in rows if r["type"] == "image"]


async def test_a_chart_that_cannot_be_drawn_leaves_the_text(chat, monkeypatch):
    async def broken(path, weeks, labels):
        raise RuntimeError("no backend")

    monkeypatch.setattr(report_chart, "draw", broken)
    rows = await chat.tick(sh("2026-11-30T09:00:00"))
    report = texts_to(rows, OWNER)
    assert report[0].startswith("📈 运营报告")
    assert report[1:] == ["运营报告的趋势图这次没有画出来（原因已记录在日志里）；文字报告已经发了。"]
    assert not [r for r in rows if r["type"] == "image"]


async def test_a_young_community_charts_the_weeks_it_has(chat, monkeypatch):
    drawn = []
    real = report_chart.draw

    async def spy(path, weeks, labels):
        drawn.append(weeks)
        return await real(path, weeks, labels)

    monkeypatch.setattr(report_chart, "draw", spy)
    await chat.say("/提问 怎么做用户增长", "u1")
    await chat.tick(sh("2026-12-07T09:00:00"))
    assert [[(w.label, w.questions) for w in weeks] for weeks in drawn] == [
        [("11.23", 1)], [("11.23", 1), ("11.30", 0)]]


async def test_report_on_demand_is_for_owners_in_private(chat):
    assert await chat.dm("/report", "u1") == ["这个命令需要「群主」权限。"]
    await chat.say("/提问 怎么做用户增长", "u1")
    asked_in_group = await chat.say("/运营报告", OWNER)
    assert to(OWNER, "运营报告已私聊发给你。") in asked_in_group
    report = texts_to(chat.sent, OWNER)[0].split("\n")
    assert report[:2] == ["📈 运营报告 · 增长学习社 · 11.23–11.29",
                          "（社群还没有过完整的一周：这是本周到 11.23（周一）09:00 为止。）"]
    assert "提问 1 · 已回答 0 · 未回答 1 · 首次回答用时中位数 —" in report
    assert sorted(r["type"] for r in chat.sent if r.get("user") == OWNER) == ["image", "say"]
    await chat.tick(sh("2026-11-30T08:00:00"))
    replies = await chat.dm("/运营报告", OWNER)
    assert replies[0].startswith("📈 运营报告 · 增长学习社 · 11.23–11.29")
    assert replies[1] == "📈 最近 12 周趋势（最后一周 11.23–11.29）"


async def test_on_demand_where_private_chats_cannot_be_opened(make_chat, tmp_path):
    chat = await make_chat(capabilities=frozenset(), members=(), top_charts_dir=str(tmp_path))
    assert await chat.say("@群助手 /运营报告", OWNER) == [to(OWNER, "运营报告只发在私聊里：请私聊我发送 /运营报告。")]
    replies = await chat.dm("/运营报告", OWNER)
    assert replies[0].startswith("📈 运营报告") and replies[0].endswith("webhook_key。）") and len(replies) == 1


async def test_help_tells_the_report_from_the_digest(chat):
    owner_help = (await chat.dm("/帮助", OWNER))[0]
    assert "/运营报告 /report — 群主的运营报告（私聊）：一周数据、与上周对比、12 周趋势图；成员看的群聊周报是 /周报" in owner_help
    assert "/运营报告" not in (await chat.dm("/帮助", "u1"))[0]


async def test_english_report(make_chat, tmp_path):
    chat = await make_chat(members=MEMBERS, locale="en", report={"weekly": True},
                           top_charts_dir=str(tmp_path / "charts"))
    rows = await chat.tick(sh("2026-11-30T09:00:00"))
    report = texts_to(rows, OWNER)[0].split("\n")
    assert report[:4] == ["📈 Owners' report · 增长学习社 · 11/23–11/29",
                          "Nothing happened this week: no one joined, left, spoke, asked or checked in.",
                          "👥 Members", "joined 0 · left 0 · net +0 · total 4"]


def test_the_example_plays_two_weeks_ending_with_the_report_and_its_chart(tmp_path):
    from tests.test_simulate import ROOT, rows_of, run_simulate

    config = tmp_path / "config.yaml"
    config.write_text((ROOT / "config.yaml").read_text(encoding="utf-8").replace(
        "charts_dir: charts ", f"charts_dir: {tmp_path / 'charts'} "), encoding="utf-8")
    rows = rows_of(run_simulate(ROOT / "examples" / "report.jsonl", tmp_path, config=config, tmpdir=tmp_path))
    report, image = rows[-2:]
    assert report["user"] == OWNER and report["text"].split("\n")[:5] == [
        "📈 运营报告 · 增长学习社 · 11.30–12.6", "👥 成员", "新进 1 · 退出 1 · 净增 +0 · 现有 4",
        # 王五 spoke in the week and left: active, but not among those the share is of.
        "活跃成员 4 人（占 75.0%；健康的群在 8–10%）", "消息 3 条"]
    assert (image["type"], image["user"]) == ("image", OWNER)
    assert image["path"] == str(tmp_path / "charts" / "growth-20261206T1600.png")
    assert_png(Path(image["path"]))
    # The weekly report of the first week went out on Monday 11.30 with its own chart; /运营报告 sent the second.
    weekly = [r for r in rows if r.get("user") == OWNER and r.get("text", "").startswith("📈 运营报告")]
    assert [r["at"][:16] for r in weekly] == ["2026-11-30T09:00", rows[-2]["at"][:16]]
    assert len([r for r in rows if r["type"] == "image"]) == 2


def test_the_font_matplotlib_picks_has_every_label_glyph():
    from fontTools.ttLib import TTFont
    from matplotlib import font_manager

    picked = font_manager.findfont(report_chart.font_properties(), fallback_to_default=False)
    assert Path(picked).resolve() == report_chart.FONT.resolve()
    cmap = TTFont(picked).getBestCmap()
    for locale in ("zh_CN", "en"):
        labels = [i18n.t(locale, f"report.chart_{key}") for key in ("active", "messages", "questions", "pool", "na",
                                                                    "empty")]
        labels.append(i18n.t(locale, "report.chart_title", first="12.31", last="1.6"))
        labels.append(i18n.t(locale, "date.day", month=12, day=31))
        missing = {ch for text in labels for ch in text if not ch.isspace() and ord(ch) not in cmap}
        assert not missing, (locale, missing)


async def test_the_report_shows_the_duty_moderator_the_weeks_referrals_stipends_and_each_groups_tier(make_chat,
                                                                                                    tmp_path):
    """What other parts of the bot keep, in the owners' report: the duty moderator's KPIs and stipend, the week's
    referrals, each group with its tier and size."""
    chat = await make_chat(members=MEMBERS, report={"weekly": True}, top_charts_dir=str(tmp_path / "charts"),
                           treasurers=[OWNER], duty={"stipend": "100"}, tiers=[{"name": "正式群"}],
                           groups=[{"room": "r1", "name": "1群", "tier": "正式群"}, {"room": "r2", "name": "2群"}])
    await chat.say("/基金 入账 500 运营费", OWNER, at=sh("2026-11-23T10:00:00"))
    await chat.say("/值班 报名", "u2")                       # on duty at once, until 11.30 00:00
    [invite] = [r for r in await chat.say("/邀请", "u1") if "邀请码" in r]
    code = re.search(r"YQ-[2-9A-Z]{6}", invite).group()
    await chat.join("u4", at=sh("2026-11-24T10:00:00"))
    await chat.say(f"/邀请 {code}", "u4")
    await chat.say("/提问 怎么做用户增长", "u4", at=sh("2026-11-25T10:00:00"))
    await chat.say("/回答 Q1 先做留存", "u1", at=sh("2026-11-25T11:00:00"))
    await chat.say("/回答 Q1 再做拉新", "u3", at=sh("2026-11-25T12:00:00"))
    rows = await chat.tick(sh("2026-11-30T09:00:00"))
    reports = [t for t in texts_to(rows, OWNER) if t.startswith("📈 运营报告")]
    [report] = reports
    lines = report.split("\n")
    # ¥100 a term; two distinct answerers meet the half tier, for 6.6 of 7 days on duty.
    assert "运营账户 ¥452.98 · 待发津贴 ¥47.02" in lines[lines.index("💰 基金") + 1]
    duty = lines[lines.index("👮 值班版主") + 1:lines.index("😶 不活跃成员")]
    assert duty[0].startswith("【本期 11.30–12.6】") and "【上一期 11.23–11.29】" in duty
    shift = duty[duty.index("【上一期 11.23–11.29】") + 1:]
    assert shift[0].startswith("李四（") and "答题人 2 位，回答 2 条" in shift[1]
    assert shift[-1] == "  津贴 ¥47.02（档位 50%，值班 6.6/7 天）"
    assert lines[lines.index("🤝 本周邀请") + 1] == "1. 张三：邀请 1 人 · 仍在群里 1 · 已登记 0"
    assert lines[lines.index("🏘️ 各群") + 1:lines.index("🏘️ 各群") + 3] == [
        "· 1群（正式群）：成员 5", "· 2群（未分层）：成员 n/a"]     # no member list of 2群 has come yet


def test_a_community_started_on_a_monday_gets_no_report_of_the_week_before_it(tmp_path):
    """The job falls due on the community's first Monday: the week before it existed is not reported."""
    from tests.test_simulate import MEMBERS as SCRIPT_MEMBERS
    from tests.test_simulate import ROOT, rows_of, run_simulate, say, script

    config = tmp_path / "config.yaml"
    config.write_text((ROOT / "config.yaml").read_text(encoding="utf-8").replace(
        "charts_dir: charts ", f"charts_dir: {tmp_path / 'charts'} ").replace(
        "      weekly: false ", "      weekly: true  "), encoding="utf-8")
    rows = rows_of(run_simulate(script(SCRIPT_MEMBERS, say("09:30:00", "/roles")), tmp_path, config=config))
    assert [r["type"] for r in rows] == ["say"] and rows[0]["text"].startswith("「增长学习社」的管理角色")
    assert not (tmp_path / "charts").exists()
