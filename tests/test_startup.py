"""Starting the bot: several processes at once on one new database, the database URLs people write, and a
database that cannot be opened."""
import asyncio
import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.adapters.recording import RecordingAdapter
from bot.app import App
from bot.cli import main
from bot.clock import SystemClock
from bot.config import ConfigError, parse_config
from models import Community
from models.db import DatabaseUrlError, database_url
from tests import pg
from tests.conftest import head_revision, make_config
from tests.gateway import free_port

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "communities:\n  - id: growth\n    name: 增长学习社\n    owners: [u_owner]\n    groups:\n      - room: r1\n"


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("QUNBOT_", "WECHATY_", "WECOM_"))}


# ---- several processes starting at once ----------------------------------------------------------------------

def _open_for_writing(pipe: Path, proc: subprocess.Popen) -> int:
    """The write end of `pipe`, once `proc` has opened it for reading (it is then waiting at the barrier)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO or proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{pipe.name}: the process never read its script "
                                     f"({proc.poll()=}): {proc.stderr.read() if proc.poll() is not None else ''}"
                                     ) from exc
            time.sleep(0.02)
            continue
        os.set_blocking(fd, True)
        return fd


def start_together(tmp_path: Path, db: str, starters: int) -> list[tuple[int, str, str]]:
    """`qunbot simulate` processes on one new database, released at one moment: each reads its script from a
    named pipe, which the test writes only once every process waits on it, so all of them migrate the database
    at once. Each asks the directory about its own topic; (exit code, stdout, stderr) of each."""
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    procs, pipes = [], []
    for i in range(starters):
        pipe = tmp_path / f"script{i}.jsonl"
        os.mkfifo(pipe)
        pipes.append(pipe)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "simulate", "--config", str(config), "--script", str(pipe), "--db", db],
            cwd=ROOT, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, encoding="utf-8"))
    try:
        writers = [_open_for_writing(pipe, proc) for pipe, proc in zip(pipes, procs)]
        for i, fd in enumerate(writers):
            line = {"type": "message", "at": "2026-11-23T09:00:00+08:00", "room": "r1", "user": f"u{i}",
                    "name": f"成员{i}", "text": f"/找人 话题{i}", "id": f"starter{i}-m1"}
            os.write(fd, (json.dumps(line, ensure_ascii=False) + "\n").encode())
        for fd in writers:
            os.close(fd)
        outputs = [proc.communicate(timeout=120) for proc in procs]
        return [(proc.returncode, out, err) for proc, (out, err) in zip(procs, outputs)]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def assert_all_came_up(results: list[tuple[int, str, str]]) -> None:
    for _, _, err in results:
        assert "Traceback" not in err, err
    assert [code for code, _, _ in results] == [0] * len(results)
    texts = [json.loads(line)["text"] for _, out, _ in results for line in out.splitlines()]
    # Every question answered once (whichever process's outbox happened to send the answer).
    assert sorted(t for t in texts if "话题" in t) == sorted(
        f"@成员{i} 名录里没有找到和「话题{i}」相关的成员。换个说法试试，或者请大家 /登记 资料。" for i in range(len(results)))


@pytest.mark.sqlite_only
def test_processes_starting_together_on_a_new_sqlite_database_all_come_up(tmp_path):
    # SQLite runs each statement of a migration on its own, so two processes collide only when their steps
    # interleave: six make that all but certain.
    assert_all_came_up(start_together(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'qunbot.db'}", starters=6))


def test_processes_starting_together_on_a_new_postgresql_database_all_come_up(tmp_path):
    url, name = asyncio.run(pg.create_database())
    try:
        # One transaction per migration: every process that migrates at the same time as another collides.
        assert_all_came_up(start_together(tmp_path, url, starters=4))
    finally:
        asyncio.run(pg.drop_database(name))


# ---- database URLs -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("typed, used", [
    ("sqlite:///qunbot.db", "sqlite+aiosqlite:///qunbot.db"),
    ("sqlite:////var/lib/qunbot/qunbot.db", "sqlite+aiosqlite:////var/lib/qunbot/qunbot.db"),
    ("sqlite+aiosqlite:///qunbot.db", "sqlite+aiosqlite:///qunbot.db"),
    ("postgresql://bot:pw@db:5432/qunbot", "postgresql+asyncpg://bot:pw@db:5432/qunbot"),
    ("postgres://bot:pw@db/qunbot", "postgresql+asyncpg://bot:pw@db/qunbot"),
    ("postgresql+asyncpg://bot@db/qunbot", "postgresql+asyncpg://bot@db/qunbot"),
])
def test_the_database_urls_people_write_get_the_async_drivers(typed, used):
    assert database_url(typed) == used


@pytest.mark.parametrize("typed", ["mysql://bot:hunter2@db/qunbot", "postgresql+psycopg2://bot:hunter2@db/qunbot",
                                   "sqlite+pysqlite:///qunbot.db", "qunbot.db", "bot:hunter2@db/qunbot"])
def test_a_database_url_qunbot_cannot_use_is_refused_saying_what_works(typed):
    with pytest.raises(DatabaseUrlError) as refused:
        database_url(typed)
    message = str(refused.value)
    assert "sqlite:///path/to/qunbot.db or postgresql://user:password@host/dbname" in message
    assert "hunter2" not in message and "\n" not in message


def test_the_config_and_its_environment_variable_take_the_same_urls():
    raw = {"database": {"url": "sqlite:///from-file.db"}, "communities": [
        {"id": "growth", "name": "增长学习社", "owners": ["u_owner"]}]}
    assert parse_config(raw, env={}).database.url == "sqlite+aiosqlite:///from-file.db"
    env = {"QUNBOT_DATABASE_URL": "postgres://bot:pw@db/qunbot"}
    assert parse_config(raw, env=env).database.url == "postgresql+asyncpg://bot:pw@db/qunbot"
    raw["database"]["url"] = "mysql://bot:hunter2@db/qunbot"
    with pytest.raises(ConfigError) as refused:
        parse_config(raw, env={})
    assert "database.url: qunbot cannot use the database mysql://bot:***@db/qunbot" in str(refused.value)
    assert "hunter2" not in str(refused.value)


@pytest.fixture
def config_file(tmp_path) -> Path:
    """For `run`, a platform adapter (a WeCom bot); the other commands do not connect one."""
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG + "adapter:\n  type: wecom\n  wecom: {bot_id: b1, secret: s1, url: 'ws://127.0.0.1:9/'}\n",
                    encoding="utf-8")
    return path


@pytest.fixture
def script(tmp_path) -> Path:
    path = tmp_path / "script.jsonl"
    path.write_text('{"type":"message","at":"2026-11-23T09:00:00+08:00","room":"r1","user":"u1","text":"/积分"}\n',
                    encoding="utf-8")
    return path


def commands(config: Path, script: Path, db: str) -> dict[str, list[str]]:
    common = ["--config", str(config), "--db", db]
    return {"run": ["run", *common], "simulate": ["simulate", *common, "--script", str(script)],
            "console": ["console", *common], "db": ["db", "upgrade", *common]}


def exit_code(argv: list[str]) -> int:
    """`qunbot ARGV`'s exit code (bad input ends it with SystemExit, as in a real process)."""
    try:
        return main(argv)
    except SystemExit as stopped:
        return int(stopped.code)


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("command", ["run", "simulate", "console", "db"])
def test_every_command_refuses_an_unusable_db_in_one_line(command, config_file, script, capsys):
    assert exit_code(commands(config_file, script, "mysql://bot:hunter2@db/qunbot")[command]) == 2
    assert one_line(capsys.readouterr().err) == (
        "qunbot: --db: qunbot cannot use the database mysql://bot:***@db/qunbot; "
        "write sqlite:///path/to/qunbot.db or postgresql://user:password@host/dbname")


def test_a_postgresql_url_without_asyncpg_says_how_to_install_it(config_file, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "asyncpg", None)           # as if it were not installed
    assert exit_code(["db", "upgrade", "--config", str(config_file), "--db", "postgresql://bot:hunter2@db/q"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("qunbot: --db: PostgreSQL needs the asyncpg driver") and \
        line.endswith("pip install -e '.[postgres]'")


@pytest.mark.sqlite_only
def test_sqlite_as_people_write_it_works_from_the_command_line(tmp_path, config_file, script, capsys):
    db = f"sqlite:///{tmp_path / 'typed.db'}"
    assert main(["db", "upgrade", "--config", str(config_file), "--db", db]) == 0
    assert capsys.readouterr().out.strip() == head_revision()
    assert main(["simulate", "--config", str(config_file), "--script", str(script), "--db", db]) == 0
    assert "本周还能打赏 100/100 分" in capsys.readouterr().out


@pytest.mark.sqlite_only
@pytest.mark.parametrize("command", ["run", "simulate", "console", "db"])
def test_a_database_in_a_missing_directory_is_one_line_naming_the_setting(command, tmp_path, config_file, script,
                                                                         capsys):
    db = f"sqlite:///{tmp_path / 'no-such-dir' / 'qunbot.db'}"
    assert main(commands(config_file, script, db)[command]) == 1
    assert one_line(capsys.readouterr().err) == (
        f"qunbot: --db: cannot open the database sqlite+aiosqlite:///{tmp_path / 'no-such-dir' / 'qunbot.db'}: "
        f"there is no directory {tmp_path / 'no-such-dir'}")


def test_a_postgresql_server_that_is_down_is_one_line_without_the_password(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    port = free_port()                                          # nothing listens there
    config.write_text(CONFIG + f"database:\n  url: postgresql://bot:hunter2@127.0.0.1:{port}/qunbot\n",
                      encoding="utf-8")
    assert main(["db", "upgrade", "--config", str(config)]) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"qunbot: database.url: cannot open the database "
                           f"postgresql+asyncpg://bot:***@127.0.0.1:{port}/qunbot: ")
    assert "hunter2" not in line


async def test_writing_the_config_at_start_runs_again_when_another_process_s_write_met_it(db_url, monkeypatch):
    """A process already running on the database may write while another starts (on SQLite the starter's late
    write is then refused outright): the start writes config.yaml's rows again instead of failing."""

    app = App(make_config(), RecordingAdapter(lambda out: None), SystemClock(), database_url=db_url)
    write, calls = app._write_config, []

    async def met_once() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("INSERT INTO members", {}, Exception("database is locked"))
        await write()

    monkeypatch.setattr(app, "_write_config", met_once)
    try:
        await app.start()
        async with app.sessions() as db:
            assert [c.id for c in await db.scalars(select(Community))] == ["growth"]
        assert len(calls) == 2
    finally:
        await app.close()


async def test_a_start_that_fails_for_another_reason_is_not_retried(db_url, monkeypatch):
    app = App(make_config(), RecordingAdapter(lambda out: None), SystemClock(), database_url=db_url)
    calls = []

    async def broken() -> None:
        calls.append(1)
        raise ValueError("not a race")

    monkeypatch.setattr(app, "_write_config", broken)
    try:
        with pytest.raises(ValueError):
            await app.start()
        assert len(calls) == 1
    finally:
        await app.close()
