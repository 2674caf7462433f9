"""Several bot accounts on one database: two real `qunbot console` processes, account a serving r1 and account b
serving r2 of one community on one PostgreSQL database, each sending only what its account owns; and, in process,
the rules behind it (who sends which outgoing message, which process handles which group)."""
from __future__ import annotations

import asyncio
import logging
import os
import queue
import re
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from bot.config import ConfigError, parse_config
from bot.events import ChatRef
from bot.lookups import CACHE_TIME as HEARD_RECHECK
from models import Group, HeardBy, OutboxMessage
from models.outbox import LOST, PENDING, SENDING, SENT
from tests import pg
from tests.conftest import Chat

TIMEOUT = 30.0          # seconds any one step of a process may take (they take well under one)
HEADER = re.compile(r"^  \S+ \S+ bot -> (?P<where>.+):$")


def accounts_config(account: str) -> dict:
    """The config of one process: the same community and groups in both, each group with its account."""
    return {"account": account, "communities": [{
        "id": "growth", "name": "增长学习社", "owners": ["u_owner"],
        "groups": [{"room": "r1", "account": "a"}, {"room": "r2", "account": "b"}]}]}


class Console:
    """`qunbot console` in a process of its own, fed through a pipe; what it prints is read as the messages its
    bot account sent, each (where, text): where is '#r1' or '@u1 (private)'."""

    def __init__(self, account: str, url: str, directory: Path) -> None:
        self.account = account
        config = directory / f"{account}.yaml"
        config.write_text(yaml.safe_dump(accounts_config(account), allow_unicode=True), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUNBOT_")}
        self.stderr = open(directory / f"{account}.log", "w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "console", "--config", str(config), "--db", url],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, cwd=directory, env=env,
            text=True, encoding="utf-8")
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.sent: list[tuple[str, str]] = []       # everything it printed as sent, in order
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def type(self, *lines: str) -> None:
        """Type lines, then ask for the clock (`:tick +0s`), which answers once everything before it is done."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("".join(f"{line}\n" for line in (*lines, ":tick +0s")))
        self.proc.stdin.flush()

    def read_until(self, marker: str) -> list[tuple[str, str]]:
        """The messages printed until a line starting with `marker`."""
        got: list[tuple[str, str]] = []
        while True:
            try:
                line = self.lines.get(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError(f"account {self.account}: nothing printed for {TIMEOUT:.0f} s; sent so far: "
                                     f"{self.sent + got}; its log: {self.log()}") from None
            if line is None:
                raise AssertionError(f"account {self.account} exited ({self.proc.wait()}): {self.log()}")
            if line.strip().startswith(marker):
                self.sent += got
                return got
            if (m := HEADER.match(line)) is not None:
                got.append((m["where"], ""))
            elif line.startswith("    ") and got:
                where, text = got[-1]
                got[-1] = (where, f"{text}\n{line[4:]}" if text else line[4:])

    def done(self) -> list[tuple[str, str]]:
        """What was sent in answer to the lines typed last."""
        return self.read_until("(now ")

    def log(self) -> str:
        self.stderr.flush()
        return Path(self.stderr.name).read_text(encoding="utf-8")[-2000:]

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.stderr.close()


def both(a: Console, b: Console, *lines: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The same lines typed into both at once; what each sent."""
    a.type(*lines)
    b.type(*lines)
    return a.done(), b.done()


def rooms(sent: list[tuple[str, str]]) -> set[str]:
    return {where for where, _ in sent}


async def query(url: str, sql: str) -> list[tuple]:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1), timeout=5)
    try:
        return [tuple(row) for row in await conn.fetch(sql)]
    finally:
        await conn.close()


@pytest.mark.own_postgresql
def test_two_processes_on_one_database_each_post_once_share_the_ledger_and_send_only_their_own(tmp_path):
    url, name = asyncio.run(pg.create_database())        # skips without PostgreSQL, fails under CI=true
    a = b = None
    try:
        a, b = Console("a", url, tmp_path), Console("b", url, tmp_path)
        for console in (a, b):                 # started together: they take turns to migrate and write config
            console.read_until("qunbot console")

        # Each has the same members join its own group; each welcomes them in its group only.
        welcomed_a, welcomed_b = both(a, b, ":join u1 张三", ":join u2 李四", ":join u3 王五")
        assert rooms(welcomed_a) == {"#r1"} and rooms(welcomed_b) == {"#r2"}
        assert sum("欢迎 @张三" in text for _, text in welcomed_a + welcomed_b) == 2

        # (c) Both keep their group's chat.
        a.type(":as u3 王五", "今天聊聊增长，r1 的第一条")
        b.type(":as u2 李四", "大家好，r2 的第一条")
        assert a.done() == [] and b.done() == []
        assert sorted(asyncio.run(query(url, "SELECT room_id, sender_id, text FROM chat_messages"))) == [
            ("r1", "u3", "今天聊聊增长，r1 的第一条"), ("r2", "u2", "大家好，r2 的第一条")]

        # (b) The same member tips in both groups at once: 120 of an allowance of 100 cannot both go through.
        tipped_a, tipped_b = both(a, b, ":as u1 张三", "/打赏 @李四 60")
        replies = [text for _, text in tipped_a + tipped_b]
        assert rooms(tipped_a) == {"#r1"} and rooms(tipped_b) == {"#r2"}
        assert sum(t.startswith("张三 打赏了 @李四 60 分") for t in replies) == 1, replies
        assert sum(t.startswith("@张三 本周额度只剩 40 分") for t in replies) == 1, replies
        balances = dict(asyncio.run(query(url, "SELECT key, balance FROM ledger_accounts WHERE unit = 'points'")))
        assert sum(balances.values()) == 0 and [v for k, v in balances.items() if k.startswith("received:")] == [60]

        # (d) A private message is answered through the account it was said to, which heard the member last.
        a.type(":dm", ":as u3 王五", "/我")
        b.type(":dm", ":as u2 李四", "/我")
        assert [where for where, _ in a.done()] == ["@u3 (private)"]
        assert [where for where, _ in b.done()] == ["@u2 (private)"]
        heard = dict(asyncio.run(query(url, "SELECT user_id, account FROM heard_by WHERE user_id IN ('u2', 'u3')")))
        assert heard == {"u2": "b", "u3": "a"}

        # (a) Both cross the same Monday (eight days: from any day of the week, the Monday after the tips):
        # each weekly post is made once, by whichever process gets there first, and each group's copy is sent by
        # the process serving that group.
        ticked_a, ticked_b = both(a, b, ":tick +8d")
        # (Started early on a Monday, they also pass that morning's runs, for the week before: nothing to post.)
        runs = asyncio.run(query(url, "SELECT job, count(*), count(DISTINCT period) FROM job_runs WHERE job IN "
                                      "('post_weekly_ranking', 'post_new_members') GROUP BY job ORDER BY job"))
        assert [job for job, _, _ in runs] == ["post_new_members", "post_weekly_ranking"]
        assert all(count == periods for _, count, periods in runs), runs
        for console, sent, room in ((a, ticked_a, "#r1"), (b, ticked_b, "#r2")):
            ranking = [where for where, text in sent if text.startswith("🏆 上周分享排行")]
            newcomers = [where for where, text in sent if text.startswith("上周新成员")]
            assert ranking == [room] and newcomers == [room], (console.account, sent)

        # Nothing either sent went to the other's group, and nothing of theirs is left unsent.
        assert rooms(a.sent) == {"#r1", "@u3 (private)"} and rooms(b.sent) == {"#r2", "@u2 (private)"}
        assert asyncio.run(query(url, "SELECT account, chat_key FROM outbox WHERE status <> 'sent'")) == []
        assert {row for row in asyncio.run(query(url, "SELECT account, chat_key FROM outbox"))} == {
            ("a", "room:r1"), ("a", "user:u3"), ("b", "room:r2"), ("b", "user:u2")}
    finally:
        for console in (a, b):
            if console is not None:
                console.close()
        asyncio.run(pg.drop_database(name))


# ---- config --------------------------------------------------------------------------------------------------

def test_a_process_is_account_main_unless_told_and_groups_name_none():
    config = parse_config({"communities": [{"id": "growth", "name": "增长学习社", "owners": ["u_owner"],
                                            "groups": [{"room": "r1"}]}]}, env={})
    assert config.account == "main" and config.communities[0].groups[0].account is None
    assert parse_config(accounts_config("a"), env={"QUNBOT_ACCOUNT": "wecom"}).account == "wecom"


@pytest.mark.parametrize("where", ["top", "group"])
@pytest.mark.parametrize("name", ["", "WeChat", "a b", "-x", "x" * 33, "微信"])
def test_an_account_name_that_is_not_a_short_identifier_is_refused(where, name):
    raw = accounts_config("a")
    if where == "top":
        raw["account"], key = name, "account"
    else:
        raw["communities"][0]["groups"][1]["account"], key = name, "communities.0.groups.1.account"
    with pytest.raises(ConfigError) as err:
        parse_config(raw, env={})
    assert f"{key}: name an account with 1-32 lowercase letters, digits, '-' or '_'" in str(err.value)


# ---- in process: two Apps on the selected database -----------------------------------------------------------

def two_accounts_config(account: str):
    return parse_config(accounts_config(account), env={})


@pytest.fixture
async def processes(db_url: str):
    """Two bot processes on one database: account a serving r1 (u_owner, u1, u2), b serving r2 (u_owner, u1, u3)."""
    first = Chat(two_accounts_config("a"), db_url)
    await first.start(members=("u_owner", "u1", "u2"), room="r1")
    second = Chat(two_accounts_config("b"), db_url)
    await second.start(members=("u_owner", "u1", "u3"), room="r2")
    yield first, second
    await first.close()
    await second.close()


async def test_each_process_handles_only_the_groups_of_its_account(processes, caplog):
    caplog.set_level(logging.INFO, logger="qunbot.dispatch")
    first, second = processes
    assert await second.say("/积分", "u1", room="r1") == []        # r1 is a's
    assert await second.say("/积分", "u1", room="r1") == []
    said = [r.getMessage() for r in caplog.records if "leaving room r1" in r.getMessage()]
    assert said == ["leaving room r1 to the bot account a, which serves it (this process is b; logged once per "
                    "room)"]
    assert len(await first.say("/积分", "u1", room="r1")) == 1
    assert len(await second.say("/积分", "u1", room="r2")) == 1


async def test_a_private_message_that_answers_nothing_goes_through_the_account_that_heard_the_member_last(processes):
    first, second = processes
    await second.say("在吗", "u3", room="r2")                      # b heard u3 last
    await second.flush()
    async with first.app.sessions.begin() as db:                 # a has something to tell u3 on its own
        ctx = await first.app.runtime.context(db, "growth", cause="test")
        await ctx.dm("u3", "whoami.user", id="u3")
        await ctx.dm("u2", "whoami.user", id="u2")               # heard by neither: a's own
    assert [r["user"] for r in await first.flush()] == ["u2"]
    assert [r["user"] for r in await second.flush()] == ["u3"]
    async with first.app.sessions() as db:
        assert (await db.get(HeardBy, "u3")).account == "b"


async def test_a_process_hearing_a_member_again_takes_over_and_writes_only_when_that_changes(processes):
    first, second = processes
    await second.say("在吗", "u1", room="r2")
    await second.flush()
    await first.say("在的", "u1", room="r1")
    await first.flush()
    async with first.app.sessions() as db:
        row = await db.get(HeardBy, "u1")
    assert row.account == "a"
    taken_over = row.heard_at
    await first.say("还在", "u1", room="r1", step=HEARD_RECHECK + timedelta(seconds=1))
    await first.flush()
    async with first.app.sessions() as db:
        assert (await db.get(HeardBy, "u1")).heard_at == taken_over    # still a's: nothing written


async def test_group_posts_of_a_job_go_to_the_account_serving_each_group(processes):
    first, second = processes
    async with first.app.sessions.begin() as db:
        ctx = await first.app.runtime.context(db, "growth", cause="test")
        for room in ("r1", "r2"):
            await ctx.post(ChatRef(room_id=room), f"公告 {room}")
    assert [r["room"] for r in await first.flush()] == ["r1"]
    assert [r["room"] for r in await second.flush()] == ["r2"]


async def test_enabling_a_group_from_chat_gives_it_the_account_that_heard_the_command(processes):
    first, second = processes
    replies = await second.say("/启用", "u_owner", room="r9")
    assert len(replies) == 1
    async with first.app.sessions() as db:
        assert (await db.get(Group, "r9")).account == "b"
    assert await first.say("/积分", "u_owner", room="r9") == []


async def test_recover_marks_lost_only_the_rows_of_its_own_account(processes, caplog):
    first, second = processes
    async with first.app.sessions.begin() as db:
        for account in ("a", "b", None):
            db.add(OutboxMessage(chat_key="room:r1", text=f"in flight for {account}", status=SENDING,
                                 account=account, not_before=first.clock.now(), created_at=first.clock.now()))
        db.add(OutboxMessage(chat_key="room:r2", text="waiting for b", status=PENDING, account="b",
                             not_before=first.clock.now(), created_at=first.clock.now()))
    caplog.set_level(logging.INFO, logger="qunbot.outbox")
    await first.app.sender.recover()
    assert "1 outgoing messages wait for the bot account b: its process sends them" in caplog.messages
    async with first.app.sessions() as db:
        statuses = {row.account: row.status for row in await db.scalars(
            select(OutboxMessage).where(OutboxMessage.text.like("in flight%")))}
    assert statuses == {"a": LOST, "b": SENDING, None: LOST}


async def test_a_sender_counts_and_sends_only_its_own_rows_and_those_from_before_accounts(processes):
    first, second = processes
    async with first.app.sessions.begin() as db:
        for account in ("a", "b", None):
            db.add(OutboxMessage(chat_key="room:r1", text=f"for {account}", status=PENDING, account=account,
                                 not_before=first.clock.now(), created_at=first.clock.now(), mentions=[]))
    assert await first.app.sender.pending() == 2 and await second.app.sender.pending() == 2
    assert [r["text"] for r in await first.flush()] == ["for a", "for None"]
    assert [r["text"] for r in await second.flush()] == ["for b"]
    async with first.app.sessions() as db:
        assert set(await db.scalars(select(OutboxMessage.status).where(OutboxMessage.text.like("for %")))) \
            == {SENT}


async def test_a_process_whose_config_gives_a_group_to_another_account_says_so_at_start(processes, db_url, caplog):
    caplog.set_level(logging.WARNING, logger="qunbot")
    raw = accounts_config("c")
    raw["communities"][0]["groups"][1]["account"] = "c"
    third = Chat(parse_config(raw, env={}), db_url)
    await third.start(members=())
    try:
        assert "room r2 was served by the bot account b; this config gives it to c: the processes on one database " \
               "need the same groups and accounts in their configs" in caplog.messages
        assert len(caplog.messages) == 1
    finally:
        await third.close()


def test_the_console_speaks_first_in_a_group_of_its_own_account(tmp_path):
    from bot.adapters.console import Console as TerminalConsole

    url = f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"
    assert TerminalConsole(two_accounts_config("b"), url, sys.stdout).room == "r2"
    assert TerminalConsole(two_accounts_config("a"), url, sys.stdout).room == "r1"
