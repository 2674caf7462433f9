"""Owners' exports: the directory in two forms (CSV and .xlsx), the fund ledger, the book of digests; read back."""
import csv
import stat
from pathlib import Path

import pytest

from handlers import exports
from tests.conftest import sh, to


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def exported(reply: str) -> Path:
    first = reply.split("\n", 1)[0]
    assert first.startswith("已导出到服务器上的 "), reply
    return Path(first.removeprefix("已导出到服务器上的 "))


@pytest.fixture
async def chat(make_chat, tmp_path):
    return await make_chat(moderators=["u3"], treasurers=["u_owner"], top_exports_dir=str(tmp_path / "exports"))


async def a_community(chat) -> None:
    """Two profiles with 姓名 and 公司, fund entries with a reversal, a best answer and a published digest in the
    week of 11.23, a best answer in the week of 11.30; 赵六 (u4) paid a fee and then deleted their data."""
    await chat.signup("u1", "姓名=张小三; 公司=甲公司; 城市=北京; 擅长=增长")
    await chat.signup("u2", "姓名=李小四; 公司=乙公司; 城市=上海; 行业=教育")
    await chat.join("u4")
    await chat.say("/基金 入账 @赵六 200 入群费", "u_owner", mentions=["u4"])
    await chat.say("/基金 入账 @李四 30 运营费", "u_owner", mentions=["u2"])
    await chat.say("/基金 撤销 2", "u_owner")
    await chat.say("/资料 删除 确认", "u4")
    await chat.say("/提问 怎么做用户增长", "u1")
    await chat.say("/回答 Q1 先做留存再做增长", "u2")
    await chat.say("/最佳 Q1 A1", "u1")
    await chat.say("/周报", "u3", at=sh("2026-11-25T21:00:00"))
    await chat.dm("/周报 选 A1", "u3")
    await chat.say("/周报 发布", "u3")
    await chat.say("/提问 私域怎么起步", "u2", at=sh("2026-12-01T09:00:00"))
    await chat.say("/回答 Q2 先建群\n再做内容", "u3")
    await chat.say("/最佳 Q2 A2", "u2")


async def test_an_owner_exports_everything_and_it_reads_back(chat):
    await a_community(chat)
    [reply, *captions] = await chat.dm("/导出", "u_owner")
    directory = exported(reply)
    assert reply.endswith("成员名录 2 人，基金账本 4 笔，周报合集 2 章。\n文件随后逐个发给你；服务器上的副本只有运行机器人的系统用户能读。")
    # Where the platform sends files, each goes to the owner as an attachment.
    sent = [(r["user"], Path(r["path"]).name, r["caption"]) for r in chat.sent if r["type"] == "file"]
    assert sent == [("u_owner", name, name) for name in ("members.csv", "members.xlsx", "members-full.csv",
                                                          "members-full.xlsx", "ledger.csv", "book.md")]
    assert captions == [name for _, name, _ in sent]
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    names = sorted(p.name for p in directory.iterdir())
    assert names == ["book.md", "ledger.csv", "members-full.csv", "members-full.xlsx", "members.csv", "members.xlsx"]
    assert all(stat.S_IMODE((directory / n).stat().st_mode) == 0o600 for n in names)

    view = read_csv(directory / "members.csv")
    assert [(r["昵称"], r["城市"], r["标签"]) for r in view] == [("张三", "北京", "#增长"), ("李四", "上海", "#教育")]
    assert "姓名" not in view[0] and "公司" not in view[0]
    assert "张小三" not in (directory / "members.csv").read_text(encoding="utf-8-sig")
    full = read_csv(directory / "members-full.csv")
    assert [(r["昵称"], r["用户ID"], r["姓名"], r["公司"]) for r in full] == [
        ("张三", "u1", "张小三", "甲公司"), ("李四", "u2", "李小四", "乙公司")]

    from openpyxl import load_workbook

    sheet = load_workbook(directory / "members-full.xlsx", read_only=True).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0][:4] == ["昵称", "用户ID", "姓名", "公司"] and rows[2][:4] == ["李四", "u2", "李小四", "乙公司"]
    sheet = load_workbook(directory / "members.xlsx", read_only=True).active
    assert "姓名" not in next(sheet.iter_rows(values_only=True))

    ledger = read_csv(directory / "ledger.csv")
    assert [(r["编号"], r["类型"], r["金额（元）"], r["冲销的编号"], r["被冲销于"]) for r in ledger] == [
        ("1", "入群费", "200.00", "", ""), ("2", "运营费", "30.00", "", "3"), ("3", "冲销", "30.00", "2", ""),
        ("4", "周奖励", "1.92", "", "")]                           # Monday's payout of the week of 11.23
    assert ledger[0]["成员"].startswith("已注销成员#")             # the fee's payer deleted their data
    assert all(r["来源"] for r in ledger)

    # The picked answer is in its author's talent archive too.
    assert "入选周报的回答 1 个：\n  • A1（Q1 怎么做用户增长）" in (await chat.dm("/档案", "u2"))[0]

    book = (directory / "book.md").read_text(encoding="utf-8")
    chapters = book.split("\n## ")[1:]
    assert [c.split("\n", 1)[0] for c in chapters] == ["第 1 章 11.23–11.29", "第 2 章 11.30–12.6"]
    assert "本章作者：李四" in chapters[0] and "📰" in chapters[0] and "先做留存再做增长" in chapters[0]
    assert "本章作者：王五" in chapters[1]
    assert "### 最佳回答：Q2 私域怎么起步\n\n> 先建群\n> 再做内容\n\n—— 王五（A2）" in chapters[1]


async def test_where_the_platform_cannot_send_files_the_reply_gives_their_path(make_chat, tmp_path):
    from bot.adapters.recording import ALL_CAPABILITIES
    from bot.events import Capability

    chat = await make_chat(treasurers=["u_owner"], top_exports_dir=str(tmp_path / "exports"),
                           capabilities=ALL_CAPABILITIES - {Capability.CAN_SEND_FILE, Capability.SEES_ALL_MESSAGES})
    await chat.say("/基金 入账 100 捐赠", "u_owner")
    [reply] = await chat.dm("/导出", "u_owner")
    assert exported(reply).is_dir()
    assert reply.endswith("文件只有运行机器人的系统用户能读，请登录服务器取回（这个平台的机器人不能发送文件）。")
    assert [r for r in chat.sent if r["type"] == "file"] == []


async def test_a_formula_in_a_profile_stays_text_in_the_spreadsheets(chat):
    await chat.signup("u1", "擅长==HYPERLINK(\"http://x\"); 城市=+86")
    directory = exported((await chat.dm("/导出", "u_owner"))[0])
    [row] = read_csv(directory / "members.csv")
    assert (row["擅长"], row["城市"]) == ("'=HYPERLINK(\"http://x\")", "'+86")
    from openpyxl import load_workbook

    sheet = load_workbook(directory / "members.xlsx").active
    cells = [c for c in sheet[2] if c.value in ("'=HYPERLINK(\"http://x\")", "'+86")]
    assert len(cells) == 2 and all(c.data_type == "s" for c in cells)


async def test_exports_are_for_owners_in_private_chat(chat):
    await a_community(chat)
    assert await chat.dm("/导出", "u1") == ["这个命令需要「群主」权限。"]
    assert await chat.say("/export", "u_owner") == [to("u_owner", "/export 只能在私聊里使用。")]


async def test_nothing_to_export_is_said_and_nothing_is_written(chat, tmp_path):
    assert await chat.dm("/导出", "u_owner") == [
        "没有可以导出的内容：还没有人登记资料，基金没有记账，也没有发布过周报或选出最佳回答。"]
    assert not (tmp_path / "exports").exists()


async def test_a_large_export_is_written_a_batch_at_a_time_and_loses_no_row(chat, monkeypatch):
    monkeypatch.setattr(exports, "BATCH", 2)
    users = [f"u{i}" for i in range(10, 17)]
    await chat.members("r1", ["u_owner", "u1", "u2", "u3", *users])
    for user in users:
        await chat.signup(user, f"城市=城{user}")
    for n in range(5):
        await chat.say(f"/基金 入账 {n + 1} 捐赠", "u_owner")
    directory = exported((await chat.dm("/导出", "u_owner"))[0])   # (the files follow)
    assert [r["城市"] for r in read_csv(directory / "members.csv")] == [f"城{u}" for u in users]
    assert [r["编号"] for r in read_csv(directory / "ledger.csv")] == ["1", "2", "3", "4", "5"]
    from openpyxl import load_workbook

    sheet = load_workbook(directory / "members.xlsx", read_only=True).active
    assert [r[1] for r in sheet.iter_rows(min_row=2, values_only=True)] == [f"城{u}" for u in users]


def write_config(tmp_path: Path) -> Path:
    import yaml

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"communities": [{"id": "growth", "name": "增长学习社", "owners": ["u_owner"],
                                                        "groups": [{"room": "r1"}]}]}), encoding="utf-8")
    return config


def test_qunbot_export_with_nothing_to_export_exits_1(tmp_path, capsys, db_url):
    from bot.cli import main

    assert main(["export", "--config", str(write_config(tmp_path)), "--db", db_url,
                 "--out", str(tmp_path / "out")]) == 1
    assert "没有可以导出的内容" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


async def test_qunbot_export_on_the_server_writes_the_same_files(chat, tmp_path, capsys, db_url):
    import asyncio

    from bot.cli import main

    await a_community(chat)
    args = ["export", "--config", str(write_config(tmp_path)), "--db", db_url, "--out", str(tmp_path / "cli")]
    assert await asyncio.to_thread(main, args) == 0
    directory = exported(capsys.readouterr().out)
    assert directory.parent == (tmp_path / "cli").resolve()
    assert [r["姓名"] for r in read_csv(directory / "members-full.csv")] == ["张小三", "李小四"]
    assert (directory / "book.md").read_text(encoding="utf-8").count("\n## ") == 2
