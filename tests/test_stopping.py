"""Stopping on SIGTERM/SIGINT (systemctl stop, docker stop, Ctrl-C): the event in hand finishes, what is due is
sent, the platform connection closes, one line says so, exit 0; `qunbot gateway` takes its Node gateway along."""
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bot.adapters.base import IncomingMessage
from bot.adapters.recording import ALL_CAPABILITIES
from bot.app import App
from bot.clock import FakeClock
from tests.conftest import START, make_config
from tests.gateway import free_port, require_node
from tests.wecom_fake import FakeWecom

ROOT = Path(__file__).resolve().parents[1]
ROOM = "wrkSFfCgAAxxxx"


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("QUNBOT_", "WECHATY_", "WECOM_"))}


# ---- in process ----------------------------------------------------------------------------------------------

class StoppedMidCommand:
    """A platform that delivers a command, is told to stop while the bot handles it, then delivers another."""

    name = "test"
    capabilities = ALL_CAPABILITIES

    def __init__(self) -> None:
        self.app: App | None = None
        self.sent: list[str] = []
        self.closed = asyncio.Event()

    async def run(self, on_event) -> None:
        in_hand = asyncio.create_task(on_event(IncomingMessage("e1", "r1", "u1", "张三", "/积分", START)))
        await asyncio.sleep(0)                  # one turn of the loop: the bot has taken it and is handling it
        self.app.stop()
        await on_event(IncomingMessage("e2", "r1", "u2", "李四", "/积分", START))
        await self.closed.wait()
        await in_hand

    async def send(self, out) -> None:
        self.sent.append(out.text)

    async def room_members(self, room_id: str) -> list:
        return []

    async def close(self) -> None:
        self.closed.set()


async def test_stopping_sends_the_reply_of_the_event_in_hand_and_takes_no_new_ones(db_url, caplog):
    adapter = StoppedMidCommand()
    app = App(make_config(top_adapter={"max_failures": 1}), adapter, FakeClock(START), database_url=db_url)
    adapter.app = app
    await app.start()
    try:
        with caplog.at_level(logging.INFO, logger="qunbot"):
            await asyncio.wait_for(app.serve(), 20)
    finally:
        await app.close()
    assert len(adapter.sent) == 1 and adapter.sent[0].startswith("@张三 本周还能打赏 100/100 分")
    assert adapter.closed.is_set()
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("stopped")] == [
        "stopped on request (messages sent while stopping: 1, left waiting for the next start: 0, "
        "events not taken: 1)"]


async def test_a_stop_while_the_platform_is_down_ends_the_wait_to_reconnect(db_url):
    app = App(make_config(top_adapter={"retry_max_seconds": 60}), StoppedMidCommand(), FakeClock(START),
              database_url=db_url)
    starts = 0

    async def down(on_event) -> None:
        nonlocal starts
        starts += 1
        app.stop()
        raise ConnectionError("the platform is unreachable")

    app.adapter.run = down
    await app.start()
    try:
        await asyncio.wait_for(app.serve(), 20)
    finally:
        await app.close()
    assert starts == 1


# ---- `qunbot run` --------------------------------------------------------------------------------------------

async def until_handled(db: Path, event_id: str) -> None:
    """Poll the bot's database until the event's transaction (and the reply stored with it) is committed."""
    def handled() -> bool:
        with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
            return conn.execute("SELECT 1 FROM processed_events WHERE event_id = ?", (event_id,)).fetchone() is not None

    deadline = time.monotonic() + 20
    while not await asyncio.to_thread(handled):
        assert time.monotonic() < deadline, f"{event_id} was not handled within 20 s"
        await asyncio.sleep(0.02)


@pytest.mark.sqlite_only
async def test_qunbot_run_on_sigterm_sends_the_reply_still_waiting_and_exits_0(tmp_path):
    fake = FakeWecom()
    url = await fake.start()
    db = tmp_path / "qunbot.db"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {{url: 'sqlite+aiosqlite:///{db}'}}\n"
        f"adapter: {{type: wecom, wecom: {{bot_id: {fake.bot_id}, secret: {fake.secret}, url: '{url}'}}}}\n"
        "pacing: {min_interval_seconds: 1}\n"       # the second reply waits a second behind the first
        "communities:\n  - id: growth\n    name: 增长学习社\n    owners: [laowang]\n"
        f"    groups: [{{room: {ROOM}, size: 30}}]\n", encoding="utf-8")
    log = tmp_path / "qunbot.log"
    with open(log, "wb") as stderr:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "run", "--config", str(config),
                                                    cwd=ROOT, env=clean_env(), stdout=subprocess.DEVNULL,
                                                    stderr=stderr)
    try:
        await fake.wait_connections(1, timeout=60)
        first = await fake.say("zhangsan", "@qunbot /积分", chat=ROOM)
        await fake.wait_for(lambda: fake.replies_to(first), timeout=20)
        second = await fake.say("lisi", "@qunbot /积分", chat=ROOM, msgid="in-hand")
        await until_handled(db, "wecom:in-hand")
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0, log.read_text()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await fake.stop()
    replies = fake.replies_to(second)
    assert len(replies) == 1 and replies[0].startswith("@lisi 本周还能打赏 100/100 分"), log.read_text()
    lines = log.read_text(encoding="utf-8").splitlines()
    stops = [line for line in lines if "stopped on SIGTERM" in line]
    assert len(stops) == 1 and "left waiting for the next start: 0" in stops[0], lines
    assert not [line for line in lines if "Traceback" in line], lines


# ---- `qunbot gateway` ----------------------------------------------------------------------------------------

def children(pid: int) -> list[int]:
    """Ids of the processes whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def kill(proc: subprocess.Popen, pids: list[int]) -> None:
    """Leave nothing running, whatever the test found."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def healthy(control_port: int) -> bool:
    with contextlib.suppress(OSError), urllib.request.urlopen(f"http://127.0.0.1:{control_port}/health",
                                                              timeout=1) as response:
        return response.status == 200
    return False


def test_qunbot_gateway_on_sigterm_stops_its_node_gateway_and_frees_the_port(tmp_path):
    require_node()
    port = free_port()
    log = tmp_path / "gateway.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "gateway", "--puppet", "mock", "--port", str(port),
                                 "--token", "local-token"], cwd=ROOT, env=clean_env(), stdout=out,
                                stderr=subprocess.STDOUT)
    node: list[int] = []
    try:
        deadline = time.monotonic() + 30
        while not healthy(port + 1):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        node = children(proc.pid)
        assert len(node) == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, log.read_text()
        assert not alive(node[0])
        assert not listening(port) and not listening(port + 1)
    finally:
        kill(proc, node)


def test_a_gateway_that_does_not_stop_is_killed_after_the_grace_period():
    deaf = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
            "time.sleep(60)")
    runner = ("import sys, bot.gateway_cli as g; g.STOP_SECONDS = 0.5; "
              f"sys.exit(g.run_until_stopped([sys.executable, '-c', {deaf!r}]))")
    proc = subprocess.Popen([sys.executable, "-c", runner], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            encoding="utf-8")
    child: list[int] = []
    try:
        assert proc.stdout.readline() == "ready\n"
        child = children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 1 and err == "qunbot: the gateway did not stop within 0.5 s; killed it\n"
        assert len(child) == 1 and not alive(child[0])
    finally:
        kill(proc, child)
