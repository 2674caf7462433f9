"""`qunbot backup` and `qunbot restore`: a copy taken while the bot runs and writes brings back exactly what was there
at that moment; nothing is overwritten or replaced by mistake; PostgreSQL is pointed at pg_dump and pg_restore."""
import asyncio
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.cli import main
from models.db import create_engine, downgrade
from tests.conftest import Chat, head_revision, make_config, to
from tests.test_tips import points

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "config.yaml")
PG_URL = "postgresql://qunbot:s3cret-pw@db.internal:5433/qunbot"


def run(*argv: str, db: str) -> int:
    return main([*argv, "--config", CONFIG, "--db", db])


def file_of(db_url: str) -> Path:
    return Path(db_url.split("///", 1)[1])


# SQLite files are what these commands work on (PostgreSQL is pointed at pg_dump and pg_restore).
pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def db_url(template_db: Path, tmp_path: Path) -> str:
    """The bot's database alone in this test's directory, as qunbot.db (what is set aside lands beside it)."""
    path = tmp_path / "qunbot.db"
    shutil.copy(template_db, path)
    return f"sqlite+aiosqlite:///{path}"

# The columns of the members table every schema revision has (later ones add activity columns).
MEMBER_COLUMNS = "id, community_id, user_id, display_name, first_seen_at, joined_at, invited_by, last_active_at"


def snapshot(path: Path) -> dict[str, list[tuple]]:
    """The members and the ledgers as stored in the database file at `path`."""
    with closing(sqlite3.connect(path)) as conn:
        return {table: sorted(conn.execute(f"SELECT {MEMBER_COLUMNS if table == 'members' else '*'} FROM {table}")
                              .fetchall(), key=repr)
                for table in ("members", "profiles", "ledger_accounts", "ledger_entries")}


def revision_of(path: Path) -> str:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]


async def test_a_backup_taken_while_the_bot_writes_restores_what_was_there_then(db_url, tmp_path, capsys):
    db, backup = file_of(db_url), tmp_path / "backups" / "monday.db"
    backup.parent.mkdir()
    chat = Chat(make_config(), db_url)
    await chat.start()
    await chat.signup("u1", "城市=北京; 职位=产品经理; 擅长=增长")
    await chat.say("/打赏 @李四 5 讲得透彻", "u1", mentions=["u2"])
    at_backup = snapshot(db)

    # The bot is in the middle of a write when the backup runs: the backup neither waits for it nor takes it.
    async with chat.app.sessions.begin() as session:
        await session.execute(text("UPDATE members SET display_name = '改名中' WHERE user_id = 'u3'"))
        assert await asyncio.to_thread(run, "backup", str(backup), db=db_url) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"wrote {backup}: ") and f"schema revision {head_revision()}" in out
    assert sorted(p.name for p in backup.parent.iterdir()) == ["monday.db"]     # no temporary file left behind

    # Life goes on after the backup.
    await chat.say("/打赏 @王五 10", "u1", mentions=["u3"])
    await chat.signup("u2", "城市=上海; 职位=运营")
    assert await chat.say("/积分", "u1") == [to("u1", points(85))]

    # Not while the bot has the database open.
    assert await asyncio.to_thread(run, "restore", str(backup), db=db_url) == 1
    assert "is open in another process (a running qunbot?): stop it first" in capsys.readouterr().err
    await chat.close()
    after = snapshot(db)
    assert after != at_backup

    assert await asyncio.to_thread(run, "restore", str(backup), db=db_url) == 0
    out = capsys.readouterr().out
    aside = next(db.parent.glob("qunbot.db.before-restore-*"))
    assert out.startswith(f"restored {db} from {backup} (")
    assert out.rstrip().endswith(f"; the previous database is kept as {aside}")
    assert snapshot(db) == at_backup
    assert snapshot(aside) == after                 # nothing is lost: what the restore replaced is kept whole
    assert not Path(f"{db}-wal").exists() and not Path(f"{db}-shm").exists()

    again = Chat(make_config(), db_url)             # the bot started on the restored database
    await again.start(members=())
    assert await again.say("/积分", "u1", id="after-restore-1") == [to("u1", points(95))]
    assert await again.say("/积分", "u3", id="after-restore-2") == [to("u3", points(100, 0))]
    await again.close()


async def test_the_write_ahead_log_a_crashed_bot_left_goes_with_the_database_set_aside(db_url, tmp_path, capsys):
    db, backup = file_of(db_url), tmp_path / "backup.db"
    chat = Chat(make_config(), db_url)
    await chat.start()
    assert await asyncio.to_thread(run, "backup", str(backup), db=db_url) == 0
    await chat.say("/打赏 @李四 5", "u1", mentions=["u2"])
    # What a bot killed now leaves: a -wal holding its last commits, not yet copied into the database file.
    shutil.copy(f"{db}-wal", tmp_path / "crash-wal")
    await chat.close()
    shutil.copy(tmp_path / "crash-wal", f"{db}-wal")
    left_by_the_crash = snapshot(db)
    assert left_by_the_crash["ledger_entries"]

    assert await asyncio.to_thread(run, "restore", str(backup), db=db_url) == 0
    aside = next(db.parent.glob("qunbot.db.before-restore-*"))
    assert snapshot(aside) == left_by_the_crash
    assert snapshot(db)["ledger_entries"] == []     # the restored file was not mixed with the old log
    assert not Path(f"{db}-wal").exists()


def test_a_backup_does_not_overwrite_a_file_unless_forced(db_url, tmp_path, capsys):
    backup = tmp_path / "backup.db"
    backup.write_text("last week's backup")
    assert run("backup", str(backup), db=db_url) == 1
    assert capsys.readouterr().err == f"qunbot: backup: {backup} already exists; pass --force to replace it\n"
    assert backup.read_text() == "last week's backup"

    assert run("backup", str(backup), "--force", db=db_url) == 0
    assert capsys.readouterr().out.startswith(f"wrote {backup}: ")
    assert revision_of(backup) == head_revision()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.db", "qunbot.db"]


def test_a_backup_that_fails_halfway_leaves_no_partial_file(db_url, tmp_path, capsys, monkeypatch):
    import models.backup

    def disk_full(source, target_path):
        target_path.write_bytes(b"SQLite format 3\x00 and then the disk was full")
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(models.backup, "_copy", disk_full)
    backup = tmp_path / "backup.db"
    assert run("backup", str(backup), db=db_url) == 1
    assert capsys.readouterr().err.endswith(": database or disk is full\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["qunbot.db"]
    backup.write_text("last week's backup")
    assert run("backup", str(backup), "--force", db=db_url) == 1
    assert backup.read_text() == "last week's backup"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.db", "qunbot.db"]


def test_a_backup_of_a_database_that_is_not_there_writes_nothing(tmp_path, capsys):
    assert run("backup", str(tmp_path / "backup.db"), db=f"sqlite:///{tmp_path / 'typo.db'}") == 1
    assert "there is no database at" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def notes_database(path: Path) -> None:
    """A SQLite database of some other program."""
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE notes (body TEXT)")


@pytest.mark.parametrize("make, why", [
    (lambda p: p.write_text("id,name\n1,张三\n"), "is not a qunbot database (not a SQLite file)"),
    (notes_database,
     "is not a qunbot database (it has no alembic_version table naming a schema revision)"),
])
def test_restore_refuses_a_file_that_is_not_a_qunbot_database(make, why, db_url, tmp_path, capsys):
    db, other = file_of(db_url), tmp_path / "other.db"
    make(other)
    before = db.read_bytes()
    assert run("restore", str(other), db=db_url) == 1
    assert capsys.readouterr().err == f"qunbot: restore: {other} {why}\n"
    assert db.read_bytes() == before and not list(tmp_path.glob("*before-restore*"))


def test_restore_refuses_a_backup_from_a_newer_version(db_url, tmp_path, capsys):
    newer = tmp_path / "newer.db"
    shutil.copy(file_of(db_url), newer)
    with closing(sqlite3.connect(newer)) as conn, conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    assert run("restore", str(newer), db=db_url) == 1
    assert "has the schema revision 9999, which this qunbot does not know" in capsys.readouterr().err


async def test_a_backup_of_an_older_schema_is_migrated_when_restored(db_url, tmp_path, capsys):
    db, old = file_of(db_url), tmp_path / "old.db"
    chat = Chat(make_config(), db_url)
    await chat.start()
    await chat.signup("u1", "城市=北京; 职位=产品经理")
    await chat.say("/打赏 @李四 5", "u1", mentions=["u2"])
    await chat.close()
    assert await asyncio.to_thread(run, "backup", str(old), db=db_url) == 0
    # Made into the database of a version before 0004, which added this index.
    engine = create_engine(f"sqlite+aiosqlite:///{old}")
    await downgrade(engine, "0003")
    await engine.dispose()
    kept = snapshot(old)
    capsys.readouterr()

    assert await asyncio.to_thread(run, "restore", str(old), db=db_url) == 0
    out = capsys.readouterr().out
    assert "schema revision 0003" in out and f"migrated to schema revision {head_revision()}" in out
    assert revision_of(db) == head_revision() and snapshot(db) == kept
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'ix_processed_events_handled_at'").fetchone()
    assert revision_of(old) == "0003"               # the backup itself is left as it was

    again = Chat(make_config(), db_url)
    await again.start(members=())
    assert await again.say("/积分", "u2", id="after-restore") == [to("u2", points(100, 5))]
    await again.close()


def test_restore_into_a_new_place_keeps_nothing_aside(db_url, tmp_path, capsys):
    fresh = tmp_path / "new" / "qunbot.db"
    fresh.parent.mkdir()
    assert run("restore", str(file_of(db_url)), db=f"sqlite:///{fresh}") == 0
    assert "previous database" not in capsys.readouterr().out
    assert revision_of(fresh) == head_revision()
    assert sorted(p.name for p in fresh.parent.iterdir()) == ["qunbot.db", "qunbot.db.startup-lock"]


def test_postgresql_is_pointed_at_pg_dump_and_pg_restore_without_the_password(tmp_path, capsys):
    assert run("backup", "qunbot.dump", db=PG_URL) == 2
    err = capsys.readouterr().err
    assert "pg_dump --format=custom --host=db.internal --port=5433 --username=qunbot --file=qunbot.dump qunbot" in err
    assert "PGPASSWORD" in err and "s3cret-pw" not in err

    assert run("restore", "qunbot.dump", db=PG_URL) == 2
    err = capsys.readouterr().err
    assert ("pg_restore --clean --if-exists --single-transaction --host=db.internal --port=5433 --username=qunbot "
            "--dbname=qunbot qunbot.dump") in err
    assert "stop the bot" in err and "s3cret-pw" not in err
    assert not Path("qunbot.dump").exists()
