"""Running in production: the shipped systemd unit restarts the bot on failures that may pass, not on those that
need a person (exit 2), and waits longer than the bot's longest stop before killing it; `qunbot run` exits 2 for
those failures."""
from __future__ import annotations

import asyncio
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.adapters import wechaty, wecom_callback
from bot.app import STOP_GRACE_SECONDS
from bot.config import Config
from tests.wecom_fake import FakeWecom

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "examples" / "qunbot.service"
DURATION_UNITS = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600}


def unit_file(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as {section: {key: [values, in order]}} (comments and blank lines skipped)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, f"{path.name}:{number}: not a key=value in a section: {line}"
        key, value = line.split("=", 1)
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def seconds(value: str) -> float:
    """A systemd time span ('60', '90s', '1min 30s') in seconds."""
    if value.isdigit():
        return float(value)
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]+)", value)
    assert parts and "".join(n + u for n, u in parts) == value.replace(" ", ""), f"not a time span: {value}"
    return sum(float(n) * DURATION_UNITS[u] for n, u in parts)


def longest_stop_seconds() -> float:
    """The longest `qunbot run` takes from SIGTERM to exit, from the code's own limits: the events in hand and the
    outbox share one grace period, then the adapter is closed, its task waited for within another grace period,
    and the command closes the adapter once more on its way out."""
    callback_grace = inspect.signature(wecom_callback.WecomCallbackAdapter._finish_tasks).parameters["grace"].default
    closing = max(wechaty._CLOSE_TIMEOUT_S, callback_grace)
    return STOP_GRACE_SECONDS + closing + STOP_GRACE_SECONDS + closing


def test_the_unit_restarts_on_failure_but_not_on_exit_2():
    service = unit_file(UNIT)["Service"]
    assert service["Restart"] == ["on-failure"]
    assert "2" in " ".join(service["RestartPreventExitStatus"]).split()
    assert seconds(service["RestartSec"][-1]) >= 1


def test_the_unit_waits_longer_than_the_bots_longest_stop_before_killing_it():
    service = unit_file(UNIT)["Service"]
    assert service.get("KillSignal", ["SIGTERM"]) == ["SIGTERM"]
    assert seconds(service["TimeoutStopSec"][-1]) > longest_stop_seconds() >= 2 * STOP_GRACE_SECONDS
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"TimeoutStopSec={service['TimeoutStopSec'][-1]}" in readme
    assert f"within {STOP_GRACE_SECONDS:g} s for both" in readme
    assert f"{longest_stop_seconds():g} s at the very worst" in readme


def test_the_unit_runs_the_bot_in_its_data_directory():
    unit = unit_file(UNIT)
    service = unit["Service"]
    (command,) = service["ExecStart"]
    assert re.fullmatch(r"/\S+/qunbot run --config /\S+\.yaml", command), command
    # The default database is a path relative to the working directory, which must be the state directory.
    assert Config.model_fields["database"].default.url == "sqlite+aiosqlite:///qunbot.db"
    assert service["WorkingDirectory"] == [f"/var/lib/{service['StateDirectory'][0]}"]
    assert "network-online.target" in unit["Unit"]["After"][0]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def run(config: Path, tmp_path: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "bot.cli", "run", "--config", str(config)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_an_invalid_config_exits_2(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("communities: []\n", encoding="utf-8")
    result = run(config, tmp_path)
    assert result.returncode == 2 and "communities" in result.stderr


@pytest.mark.sqlite_only
async def test_credentials_the_platform_refuses_exit_2(tmp_path):
    fake = FakeWecom(secret="the-right-one")
    url = await fake.start()
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({
        "database": {"url": f"sqlite:///{tmp_path / 'qunbot.db'}"},
        "adapter": {"type": "wecom", "wecom": {"bot_id": fake.bot_id, "secret": "a-wrong-one", "url": url}},
        "communities": [{"id": "growth", "name": "增长学习社", "owners": ["laowang"]}],
    }), encoding="utf-8")
    try:
        result = await asyncio.to_thread(run, config, tmp_path)
    finally:
        await fake.stop()
    assert result.returncode == 2, result.stderr
    assert "check adapter.wecom.bot_id and adapter.wecom.secret" in result.stderr
    assert "Traceback" not in result.stderr
