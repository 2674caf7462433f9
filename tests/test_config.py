"""config.yaml: the shipped file loads; a bad one is refused with the key and what is expected."""
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]


def minimal(**community: Any) -> dict[str, Any]:
    return {"communities": [{"id": "growth", "name": "增长学习社", "owners": ["u_owner"],
                             "groups": [{"room": "r1"}], **community}]}


def error_of(raw: Any) -> str:
    with pytest.raises(ConfigError) as err:
        parse_config(raw, env={})
    return str(err.value)


def test_shipped_config_loads():
    config = load_config(ROOT / "config.yaml", env={})
    community = config.communities[0]
    assert (community.id, community.name, community.owners) == ("growth", "增长学习社", ["u_owner"])
    assert [g.room for g in community.groups] == ["r1"]
    assert community.schedule.post_new_members == "0 10 * * mon"
    assert config.adapter.type == "console"
    assert len(community.rules) == 3
    assert str(config.community_tz(community)) == "Asia/Shanghai"


def test_shipped_defaults_apply_when_the_config_sets_none():
    config = parse_config(minimal(), env={})
    shipped = load_config(ROOT / "config.yaml", env={})
    assert config.pacing == shipped.pacing
    assert config.retention == shipped.retention
    assert config.pacing.min_interval_seconds > 0 and config.pacing.max_chars <= 20_480
    assert config.timezone == "Asia/Shanghai" and config.locale == "zh_CN"


def test_community_settings_override_top_level_ones():
    raw = minimal(timezone="Europe/Berlin", locale="en")
    raw["timezone"] = "America/New_York"
    config = parse_config(raw, env={})
    community = config.communities[0]
    assert str(config.community_tz(community)) == "Europe/Berlin"
    assert config.community_locale(community) == "en"


def _with(top: dict | None = None, **community: Any) -> dict[str, Any]:
    raw = minimal(**community)
    raw.update(top or {})
    return raw


BAD = [
    ("unknown top-level key", _with({"colour": "red"}), "colour: unknown key"),
    ("unknown nested key", _with(colour="red"), "communities.0.colour: unknown key"),
    ("unknown deeper key", _with({"pacing": {"max_char": 100}}), "pacing.max_char: unknown key"),
    ("unknown job", _with(schedule={"post_weekly_digest": "0 9 * * mon"}),
     "communities.0.schedule.post_weekly_digest: unknown key"),
    ("wrong type", _with({"pacing": {"max_chars": "lots"}}), "pacing.max_chars: Input should be a valid integer"),
    ("a name where a list is expected", _with(owners="u_owner"), "communities.0.owners: Input should be a valid list"),
    ("out of range", _with({"pacing": {"max_chars": 5}}), "pacing.max_chars: Input should be greater than or equal to 100"),
    ("missing communities", {"locale": "zh_CN"}, "communities: required key is missing"),
    ("empty communities", {"communities": []}, "communities: List should have at least 1 item"),
    ("community without owners", {"communities": [{"id": "growth", "name": "x"}]},
     "communities.0.owners: required key is missing"),
    ("bad community id", _with(id="Growth Club"), "communities.0.id: use 1-32 lowercase letters, digits"),
    ("unknown timezone", _with(timezone="Asia/Peking"), "communities.0.timezone: unknown time zone 'Asia/Peking'"),
    ("unknown top-level timezone", _with({"timezone": "Mars/Olympus"}), "timezone: unknown time zone 'Mars/Olympus'"),
    ("bad crontab", _with(schedule={"post_new_members": "every monday"}),
     "communities.0.schedule.post_new_members: not a crontab line (minute hour day month day-of-week)"),
    ("crontab out of range", _with(schedule={"post_new_members": "0 25 * * mon"}),
     "communities.0.schedule.post_new_members: not a crontab line"),
    ("bad nickname placeholder", _with(nickname_format="{城市}-{年龄}"),
     "communities.0.nickname_format: placeholders must be among {城市}"),
    ("bad week_start", _with(week_start="monday"),
     "communities.0.week_start: expected '<day> HH:MM' with day one of mon..sun"),
    ("week_start hour out of range", _with(week_start="mon 24:00"), "communities.0.week_start: expected"),
    ("unknown locale", _with(locale="fr"), "communities.0.locale: Input should be 'zh_CN' or 'en'"),
    ("unknown adapter", _with({"adapter": {"type": "telegram"}}), "adapter.type: Input should be"),
    ("retention of nothing", _with({"retention": {"events_days": 0}}),
     "retention.events_days: Input should be greater than or equal to 1"),
]


@pytest.mark.parametrize("raw, expected", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_invalid_config_names_the_key_and_what_is_expected(raw, expected):
    message = error_of(raw)
    assert message.startswith("config.yaml is invalid:")
    assert expected in message


def test_duplicate_room_across_communities_is_refused():
    raw = minimal()
    raw["communities"].append({"id": "design", "name": "设计学习社", "owners": ["u_owner"],
                               "groups": [{"room": "r2"}, {"room": "r1"}]})
    message = error_of(raw)
    assert "communities: room 'r1' is listed in both 'growth' and 'design'" in message


def test_room_listed_twice_in_one_community_is_refused():
    message = error_of(minimal(groups=[{"room": "r1"}, {"room": "r1", "name": "again"}]))
    assert "communities: room 'r1' is listed twice in 'growth'" in message


def test_duplicate_community_id_is_refused():
    raw = minimal()
    raw["communities"].append({"id": "growth", "name": "又一个", "owners": ["u1"]})
    assert "communities: community id 'growth' appears twice" in error_of(raw)


def test_every_error_is_reported_at_once():
    message = error_of(_with({"colour": "red"}, timezone="Asia/Peking", week_start="someday"))
    assert "colour: unknown key" in message
    assert "communities.0.timezone" in message and "communities.0.week_start" in message


def test_top_level_must_be_a_mapping():
    assert "expected a mapping" in error_of(["communities"])
    assert "expected a mapping" in error_of(None)


# ---- environment ---------------------------------------------------------------------------------------------

def test_environment_overrides_settings():
    raw = minimal()
    raw["database"] = {"url": "sqlite+aiosqlite:///from-file.db"}
    env = {"WECHATY_PUPPET_SERVICE_ENDPOINT": "127.0.0.1:8788", "WECHATY_PUPPET_SERVICE_TOKEN": "secret-token",
           "QUNBOT_DATABASE_URL": "postgresql+asyncpg://bot@db/qunbot", "QUNBOT_ADAPTER": "wechaty"}
    config = parse_config(raw, env=env)
    assert config.adapter.wechaty.endpoint == "127.0.0.1:8788"
    assert config.adapter.wechaty.token == "secret-token"
    assert config.database.url == "postgresql+asyncpg://bot@db/qunbot"
    assert config.adapter.type == "wechaty"
    assert raw["database"]["url"] == "sqlite+aiosqlite:///from-file.db"     # the parsed document is not changed


def test_empty_or_absent_environment_keeps_the_file_values():
    raw = minimal()
    raw["database"] = {"url": "sqlite+aiosqlite:///from-file.db"}
    assert parse_config(raw, env={"QUNBOT_DATABASE_URL": ""}).database.url == "sqlite+aiosqlite:///from-file.db"
    assert parse_config(raw, env={}).database.url == "sqlite+aiosqlite:///from-file.db"


def test_process_environment_is_used_by_default(monkeypatch):
    monkeypatch.setenv("WECHATY_PUPPET_SERVICE_ENDPOINT", "10.0.0.5:9001")
    assert parse_config(minimal()).adapter.wechaty.endpoint == "10.0.0.5:9001"


def test_invalid_environment_value_is_named():
    message = str(pytest.raises(ConfigError, parse_config, minimal(), env={"QUNBOT_ADAPTER": "fax"}).value)
    assert "adapter.type" in message


# ---- from the command line -----------------------------------------------------------------------------------

def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUNBOT_", "WECHATY_"))}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=cwd, env=env, capture_output=True,
                          encoding="utf-8", timeout=120)


def test_simulate_with_a_bad_config_exits_2_with_the_message(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_with(timezone="Asia/Peking", colour="red"), allow_unicode=True),
                   encoding="utf-8")
    script = tmp_path / "script.jsonl"
    script.write_text('{"type":"tick","at":"2026-11-23T09:00:00+08:00"}\n', encoding="utf-8")
    result = run_cli("simulate", "--config", str(bad), "--script", str(script), cwd=ROOT)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "communities.0.timezone: unknown time zone 'Asia/Peking'" in result.stderr
    assert "communities.0.colour: unknown key" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("content, expected", [
    (None, "cannot read"),
    ("communities: [unclosed", "is not valid YAML"),
], ids=["missing file", "not yaml"])
def test_unreadable_config_exits_2_without_a_traceback(tmp_path, content, expected):
    path = tmp_path / "config.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    script = tmp_path / "script.jsonl"
    script.write_text("", encoding="utf-8")
    result = run_cli("simulate", "--config", str(path), "--script", str(script), cwd=ROOT)
    assert result.returncode == 2 and result.stdout == ""
    assert expected in result.stderr and "Traceback" not in result.stderr
