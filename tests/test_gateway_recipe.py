"""The README's "Try it with the mock gateway" recipe, followed as written: its commands are read from the README and
run in separate processes as the three terminals would (`qunbot gateway`, `qunbot run --config
examples/gateway.yaml`, curl against the control channel), on free ports instead of 8788/8789, until the bot has
answered in the group and logged, once, the group it does not serve."""
from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_config
from tests.gateway import FIXTURE, free_port, require_node, skip_or_fail

ROOT = Path(__file__).resolve().parents[1]
SECTION = "#### Try it with the mock gateway"
README_PORT, README_CONTROL_PORT = "8788", "8789"
SERVED, UNSERVED = FIXTURE["rooms"][0]["id"], FIXTURE["rooms"][1]["id"]
TIMEOUT_S = 60.0


def recipe_commands() -> list[str]:
    """The shell commands of the README's mock-gateway section, in order (continuation lines joined)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split(SECTION, 1)[1].split("\n#### ", 1)[0]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def test_the_recipe_uses_the_shipped_config_whose_group_and_owner_are_the_fixtures():
    commands = recipe_commands()
    assert commands[0] == "qunbot gateway --puppet mock --port 8788 --token local-token"
    assert commands[1] == "qunbot run --config examples/gateway.yaml"
    config = load_config(ROOT / "examples" / "gateway.yaml", env={})
    assert config.adapter.type == "wechaty"
    assert config.adapter.wechaty.endpoint == f"127.0.0.1:{README_PORT}"
    assert f"--token {config.adapter.wechaty.token}" in commands[0]
    (community,) = config.communities
    rooms = {r["id"]: r for r in FIXTURE["rooms"]}
    assert [g.room for g in community.groups] == [SERVED]
    assert set(community.owners) == {rooms[SERVED]["owner"]}
    assert UNSERVED in rooms and all(g.room != UNSERVED for g in community.groups)


class Terminal:
    """One command of the recipe running in its own process group (as in a terminal of its own), its output in a
    file."""

    def __init__(self, command: str, cwd: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(shlex.split(command), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, text: str) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while text not in self.output():
            assert self.proc.poll() is None, f"exited with {self.proc.returncode}:\n{self.output()}"
            assert time.monotonic() < deadline, f"no {text!r} within {TIMEOUT_S:.0f} s:\n{self.output()}"
            time.sleep(0.1)

    def stop(self) -> int | None:
        """SIGTERM to its process group (Ctrl-C in that terminal would reach the group too), then wait."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


def until(get: Callable[[], Any], ok: Callable[[Any], bool], what: str) -> Any:
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        value = get()
        if ok(value):
            return value
        assert time.monotonic() < deadline, f"{what}: last {value!r}"
        time.sleep(0.2)


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    started: list[Terminal] = []
    try:
        yield started
    finally:
        for terminal in reversed(started):
            terminal.stop()


def test_the_mock_gateway_recipe_gets_an_answer_in_the_group(tmp_path, terminals):
    import importlib.util

    require_node()
    if importlib.util.find_spec("wechaty") is None:
        skip_or_fail("python-wechaty is not installed: pip install -e '.[test,wechaty]'")
    if shutil.which("curl") is None:
        skip_or_fail("curl is not installed (the README's recipe uses it)")
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "qunbot").exists():
        skip_or_fail(f"the qunbot command is not installed in {bin_dir}: pip install -e .")

    port = free_port()
    endpoint = f"127.0.0.1:{port}"

    def on_free_ports(command: str) -> str:
        return command.replace(README_CONTROL_PORT, str(port + 1)).replace(README_PORT, str(port))

    gateway_cmd, run_cmd, say_help, list_sent, say_elsewhere = recipe_commands()
    # The source directory as the recipe has it (examples/ as shipped), without its database landing in the checkout.
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUNBOT_", "WECHATY_", "WECOM_"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["WECHATY_PUPPET_SERVICE_ENDPOINT"] = endpoint        # examples/gateway.yaml names port 8788

    def shell(command: str) -> str:
        return subprocess.run(shlex.split(on_free_ports(command)), cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=30, check=True).stdout

    def sent() -> list[dict[str, Any]]:
        return json.loads(shell(list_sent))["messages"]

    # First terminal.
    gateway = Terminal(on_free_ports(gateway_cmd), tmp_path, env, tmp_path / "terminal1.log")
    terminals.append(gateway)
    gateway.wait_for(f"puppet service (mock, TLS disabled) on {endpoint}; control channel on 127.0.0.1:{port + 1}")
    # Second terminal.
    bot = Terminal(on_free_ports(run_cmd), tmp_path, env, tmp_path / "terminal2.log")
    terminals.append(bot)
    bot.wait_for("wechaty logged in as 群助手 (wxid_qunbot)")
    # Third terminal: 张三 asks for /帮助 in the group; the bot answers there.
    assert "messageId" in json.loads(shell(say_help)), gateway.output()
    answer = until(sent, lambda messages: any(m["conversationId"] == SERVED for m in messages), "the bot's answer")
    assert answer[0]["isRoom"] and answer[0]["text"].startswith("「增长学习社」可用命令"), answer

    # 赵六 in the group the config does not list: no answer, one log line saying how to serve it, however often.
    shell(say_elsewhere)
    shell(say_elsewhere)
    shell(say_help)                  # handled after both (events come in order): its answer says they were too
    until(sent, lambda messages: sum(m["conversationId"] == SERVED for m in messages) == 2, "the second answer")
    assert all(m["conversationId"] != UNSERVED for m in sent())
    told = [line for line in bot.output().splitlines() if f"ignoring messages in room {UNSERVED}" in line]
    assert len(told) == 1, bot.output()
    assert " INFO qunbot.dispatch: " in told[0] and f"`- room: {UNSERVED}`" in told[0] and "/启用" in told[0]

    assert bot.stop() == 0, bot.output()
    assert "stopped on SIGTERM" in bot.output()
    assert gateway.stop() == 0, gateway.output()
    assert "Traceback" not in bot.output(), bot.output()
    assert " - WARNING - " not in bot.output(), bot.output()       # python-wechaty's own format: filtered noise
