"""Test helper: run the Node gateway (bot/gateway) with the mock puppet and drive its control channel.

The helper does not install Node packages: CI runs `npm ci` in bot/gateway first. When `node` or
bot/gateway/node_modules is missing the tests skip with the reason, except under CI=true, where that is a failure.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

GATEWAY_DIR = Path(__file__).resolve().parents[1] / "bot" / "gateway"
FIXTURE = json.loads((GATEWAY_DIR / "fixture.json").read_text(encoding="utf-8"))
START_TIMEOUT_S = 30.0


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> None:
    """Skip the test, or fail it under CI=true, where everything the E2E tests need must be installed."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: the end-to-end tests must run)", pytrace=False)
    pytest.skip(reason)


def require_node() -> str:
    node = shutil.which("node")
    if node is None:
        skip_or_fail("node is not installed (the wechaty end-to-end tests need Node 20)")
    if not (GATEWAY_DIR / "node_modules" / "wechaty-puppet-service").is_dir():
        skip_or_fail(f"the gateway's Node packages are not installed: run `npm ci` in {GATEWAY_DIR}")
    return node  # type: ignore[return-value]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now and whose successor is free too (the control channel)."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return int(port)
    raise RuntimeError("no two adjacent free ports on 127.0.0.1")


class GatewayError(RuntimeError):
    pass


class Gateway:
    """One gateway process (mock puppet) on fixed ports; stop() and start() again keep ports and the sent log."""

    def __init__(self, workdir: Path, *, token: str = "qunbot-e2e-token", port: int | None = None) -> None:
        self.node = require_node()
        self.token = token
        self.port = port or free_port()
        self.control_port = self.port + 1
        self.endpoint = f"127.0.0.1:{self.port}"
        self.workdir = workdir
        self.record = workdir / "gateway-sent.jsonl"
        self.log_path = workdir / "gateway.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.fixture = FIXTURE

    # -- process -------------------------------------------------------------------------------------------

    def start(self) -> Gateway:
        if self.proc is not None and self.proc.poll() is None:
            raise GatewayError("gateway already running")
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [self.node, str(GATEWAY_DIR / "gateway.js"), "--puppet", "mock", "--port", str(self.port),
                 "--token", self.token, "--control-port", str(self.control_port), "--record", str(self.record)],
                cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise GatewayError(f"gateway exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if self.health().get("ok"):
                    return self
            except (OSError, GatewayError):
                pass
            time.sleep(0.1)
        self.stop()
        raise GatewayError(f"gateway not healthy within {START_TIMEOUT_S:.0f} s:\n{self.log_tail()}")

    def stop(self, *, kill: bool = False) -> None:
        """Stop the process (SIGKILL with kill=True, else SIGTERM, then SIGKILL after 5 s) and wait for it."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        if kill:
            proc.kill()
        else:
            proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def restart(self, *, kill: bool = True) -> None:
        """Kill the gateway and start it again on the same ports (a new process: the world is the fixture's)."""
        self.stop(kill=kill)
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no gateway log)"

    # -- control channel -----------------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.control_port}{path}", data=data, method=method,
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise GatewayError(f"{method} {path} -> {exc.code}: {exc.read().decode(errors='replace')}") from None

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    def world(self) -> dict[str, Any]:
        return self._call("GET", "/world")

    def say(self, room: str, sender: str, text: str, mentions: list[str] | tuple[str, ...] = ()) -> str:
        return self._call("POST", "/room/say", {"room": room, "from": sender, "text": text,
                                                "mentions": list(mentions)})["messageId"]

    def dm(self, sender: str, text: str) -> str:
        return self._call("POST", "/dm", {"from": sender, "text": text})["messageId"]

    def join(self, room: str, contact: str, inviter: str) -> list[str]:
        return self._call("POST", "/room/join", {"room": room, "contact": contact, "inviter": inviter})["members"]

    def leave(self, room: str, contact: str, remover: str | None = None) -> list[str]:
        body = {"room": room, "contact": contact, **({"remover": remover} if remover else {})}
        return self._call("POST", "/room/leave", body)["members"]

    def sent(self, since: int = 0) -> list[dict[str, Any]]:
        """What the bot sent after seq `since`, in order: {seq, kind, conversationId, isRoom, text, mentionIds}."""
        return self._call("GET", f"/sent?since={since}")["messages"]

    def last_seq(self) -> int:
        return int(self._call("GET", "/sent?since=999999999")["last"])

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], *, since: int = 0,
                       timeout: float = 20.0, what: str = "a message") -> dict[str, Any]:
        """Poll (without blocking the event loop) until the bot has sent a message matching `predicate` after
        seq `since`; return it."""
        deadline = time.monotonic() + timeout
        while True:
            for message in await asyncio.to_thread(self.sent, since):
                if predicate(message):
                    return message
            if time.monotonic() > deadline:
                sent = await asyncio.to_thread(self.sent, since)
                raise AssertionError(f"the bot did not send {what} within {timeout:.0f} s; it sent after #{since}: "
                                     f"{json.dumps(sent, ensure_ascii=False, indent=1)}\n"
                                     f"gateway log:\n{self.log_tail()}")
            await asyncio.sleep(0.1)

    async def arestart(self, *, kill: bool = True) -> None:
        """restart() from async code, without blocking the event loop."""
        await asyncio.to_thread(self.restart, kill=kill)


@pytest.fixture
def gateway(tmp_path: Path):
    """A running gateway with the mock puppet on free ports, killed at teardown."""
    gw = Gateway(tmp_path)
    try:
        yield gw.start()
    finally:
        gw.stop()
