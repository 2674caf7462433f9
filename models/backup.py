"""Backing up a SQLite database while the bot runs, and putting a backup back in its place; for PostgreSQL, the
pg_dump and pg_restore commands that do the same."""
from __future__ import annotations

import os
import shlex
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import URL, make_url

from models.db import create_engine, sqlite_file, sqlite_startup_lock, upgrade

SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_SECONDS = 30           # as long as the bot waits for a lock (models.db's busy_timeout)


class BackupError(Exception):
    """A backup or restore that was refused or failed, having changed nothing; the message says why in one line."""


@dataclass(frozen=True, slots=True)
class Contents:
    """What a database file holds, in the terms a backup or restore reports."""
    path: Path
    size: int
    revision: str | None
    tables: int
    rows: int

    def __str__(self) -> str:
        revision = f"schema revision {self.revision}" if self.revision else "no schema revision"
        rows = "1 row" if self.rows == 1 else f"{self.rows:,} rows"
        return f"{_size(self.size)}, {revision}, {self.tables} tables, {rows}"


@dataclass(frozen=True, slots=True)
class Restored:
    backup: Contents            # the backup as it was read
    migrated_to: str | None     # the revision it was brought to, when it was older than this qunbot's schema
    set_aside: Path | None      # where the database it replaced went (None: there was none)


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    value = n / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def sqlite_path(url: str) -> Path:
    """The file of the SQLite database at `url`; BackupError for an in-memory one."""
    path = sqlite_file(make_url(url))
    if path is None:
        raise BackupError("an in-memory database has nothing to back up or restore; set database.url or --db "
                          "to a SQLite file")
    return path


def _uri(path: Path, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"file:{quote(str(path.absolute()))}" + (f"?{query}" if query else "")


def known_revisions() -> set[str]:
    """Every schema revision this qunbot's migrations know."""
    from alembic.script import ScriptDirectory

    from models.db import alembic_config

    return {script.revision for script in ScriptDirectory.from_config(alembic_config("sqlite://")).walk_revisions()}


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    from models.db import alembic_config

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def contents(conn: sqlite3.Connection, path: Path) -> Contents:
    """What the database open on `conn` (the file `path`) holds."""
    tables = [name for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    rows = sum(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in tables)
    revision = None
    if "alembic_version" in tables:
        found = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        revision = found[0] if found else None
    return Contents(path, path.stat().st_size, revision, len(tables), rows)


@contextmanager
def _temporary_beside(path: Path, purpose: str) -> Iterator[Path]:
    """A new empty file in `path`'s directory (so that renaming it over `path` is atomic), removed unless it was
    renamed away; readable by its owner only, as the database it will hold members' personal data."""
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".{purpose}")
    except FileNotFoundError:
        raise BackupError(f"there is no directory {path.parent}") from None
    except OSError as exc:
        raise BackupError(f"cannot write in {path.parent}: {exc.strerror}") from None
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
    finally:
        for leftover in (temp, _beside(temp, "-journal"), _beside(temp, "-wal"), _beside(temp, "-shm")):
            leftover.unlink(missing_ok=True)


def _beside(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _copy(source: sqlite3.Connection, target_path: Path) -> Contents:
    """Copy the database open on `source` into the file `target_path` (SQLite's online backup: one consistent
    snapshot, writers are not held up) as a self-contained file, no -wal beside it; what it holds."""
    with closing(sqlite3.connect(target_path, isolation_level=None)) as target:
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")
        return contents(target, target_path)


def backup_sqlite(db: Path, dest: Path, *, force: bool = False) -> Contents:
    """Write a copy of the SQLite database `db` to `dest`, safe while bots run on it: written beside `dest` first and
    renamed into place, so a failed backup leaves no partial file. An existing `dest` is replaced only with `force`."""
    if not db.is_file():
        raise BackupError(f"there is no database at {db} (check database.url or --db)")
    if dest.is_dir():
        raise BackupError(f"{dest} is a directory; give the backup's file name")
    if dest.exists() and not force:
        raise BackupError(f"{dest} already exists; pass --force to replace it")
    if dest.exists() and dest.resolve() in {p.resolve() for p in (db, _beside(db, "-wal"), _beside(db, "-shm"))}:
        raise BackupError(f"{dest} is the database itself")
    with _temporary_beside(dest, "part") as temp:
        try:
            # Read-write: the last connection to close checkpoints the WAL and removes it, as the bot's own do.
            with closing(sqlite3.connect(_uri(db, mode="rw"), uri=True, timeout=BUSY_SECONDS)) as source:
                written = _copy(source, temp)
            with open(temp, "rb") as fh:
                os.fsync(fh.fileno())
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"cannot back up {db}: {exc}") from None
        os.replace(temp, dest)
    return Contents(dest, written.size, written.revision, written.tables, written.rows)


def _open_backup(path: Path) -> tuple[sqlite3.Connection, Contents]:
    """The backup at `path`, opened without writing anything beside it; BackupError unless it is a qunbot database
    of a revision this qunbot knows."""
    try:
        with open(path, "rb") as fh:
            header = fh.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        raise BackupError(f"there is no file {path}") from None
    except IsADirectoryError:
        raise BackupError(f"{path} is a directory, not a backup") from None
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from None
    if header != SQLITE_HEADER:
        raise BackupError(f"{path} is not a qunbot database (not a SQLite file)")
    # A file at rest is opened as immutable: no -shm or -wal is created beside it. One with its -wal beside it
    # (a copy taken with its write-ahead log) is read with that log.
    immutable = not _beside(path, "-wal").exists()
    params = {"mode": "ro", "immutable": "1"} if immutable else {"mode": "ro"}
    conn = sqlite3.connect(_uri(path, **params), uri=True, timeout=BUSY_SECONDS)
    try:
        found = contents(conn, path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise BackupError(f"{path} is not a qunbot database ({exc})") from None
    if found.revision is None:
        conn.close()
        raise BackupError(f"{path} is not a qunbot database (it has no alembic_version table naming a schema "
                          "revision)")
    if found.revision not in known_revisions():
        conn.close()
        raise BackupError(f"{path} has the schema revision {found.revision}, which this qunbot does not know "
                          "(a backup made by a newer version?); restore it with that version")
    return conn, found


def _check_not_in_use(db: Path) -> None:
    """BackupError when another connection has `db` open: a bot in WAL mode holds a shared lock on the file for as
    long as it runs, so an exclusive lock is only granted when no process has the database open."""
    with _exclusively(db):
        pass


@contextmanager
def _exclusively(db: Path) -> Iterator[sqlite3.Connection]:
    try:
        conn = sqlite3.connect(_uri(db, mode="rw"), uri=True, timeout=1, isolation_level=None)
    except sqlite3.OperationalError as exc:
        raise BackupError(f"cannot open {db}: {exc}") from None
    with closing(conn):
        try:
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            conn.execute("BEGIN EXCLUSIVE")
            conn.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise BackupError(f"{db} is open in another process (a running qunbot?): stop it first, then "
                                  "restore") from None
            raise BackupError(f"cannot open {db}: {exc}") from None
        yield conn


def _aside_name(db: Path, now: datetime) -> Path:
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = _beside(db, f".before-restore-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = _beside(db, f".before-restore-{stamp}-{n}")
    return aside


def _set_aside(db: Path, now: datetime) -> Path | None:
    """Move the database `db` out of the way as one self-contained file (its WAL checkpointed into it, no -wal or
    -shm left beside `db`, which SQLite would otherwise replay into the file put in its place); where it went."""
    aside = _aside_name(db, now)
    if db.exists():
        with _exclusively(db) as conn:
            conn.execute("PRAGMA journal_mode=DELETE")      # checkpoints the WAL into the file and removes it
        os.replace(db, aside)
    wal, shm = _beside(db, "-wal"), _beside(db, "-shm")
    if wal.exists():                                         # the log of a database no longer there: keep it apart
        os.replace(wal, _beside(aside, "-wal"))
    shm.unlink(missing_ok=True)                              # only an index of the WAL, rebuilt when needed
    return aside if aside.exists() else None


def _take_owner_and_mode(path: Path, like: Path) -> None:
    """Give the restored file the replaced database's permissions and, when allowed, its owner (a restore run as
    root must not leave the bot a file it cannot open)."""
    if not like.exists():
        return
    st = like.stat()
    os.chmod(path, st.st_mode & 0o7777)
    if hasattr(os, "chown") and (path.stat().st_uid, path.stat().st_gid) != (st.st_uid, st.st_gid):
        try:
            os.chown(path, st.st_uid, st.st_gid)
        except PermissionError:
            pass


async def restore_sqlite(url: str, backup: Path, *, now: datetime) -> Restored:
    """Replace the SQLite database at `url` with the backup at `backup`, migrated to this qunbot's schema if older;
    the database it replaces is kept beside it as `<db>.before-restore-<now>`. Refused while a process has the
    database open; a bot starting meanwhile waits for the restore (the startup lock)."""
    db = sqlite_path(url)
    source, found = _open_backup(backup)
    with closing(source):
        if db.exists() and backup.resolve() == db.resolve():
            raise BackupError(f"{backup} is the database itself")
        if db.exists():
            _check_not_in_use(db)           # before the copy and the migration: a running bot is told at once
        async with sqlite_startup_lock(db, make_url(url)):
            with _temporary_beside(db, "restoring") as temp:
                try:
                    copied = _copy(source, temp)
                except sqlite3.DatabaseError as exc:
                    raise BackupError(f"cannot read {backup}: {exc}") from None
                source.close()
                migrated_to = None
                if copied.revision != head_revision():
                    # The upgrade `qunbot run` does, made before the file is put in place: should it fail, the
                    # database in use is still the one it was.
                    engine = create_engine(f"sqlite+aiosqlite:///{temp}")
                    try:
                        await upgrade(engine)
                    except Exception as exc:
                        raise BackupError(f"cannot migrate {backup} to the schema revision {head_revision()}: "
                                          f"{exc}") from exc
                    finally:
                        await engine.dispose()
                    migrated_to = head_revision()
                _take_owner_and_mode(temp, db)
                aside = _set_aside(db, now)
                os.replace(temp, db)
    return Restored(found, migrated_to, aside)


def _pg_options(url: URL) -> list[str]:
    """Where to connect, as pg_dump and pg_restore take it; the password is left to PGPASSWORD or ~/.pgpass."""
    options = []
    if url.host:
        options.append(f"--host={url.host}")
    if url.port:
        options.append(f"--port={url.port}")
    if url.username:
        options.append(f"--username={url.username}")
    return options


def pg_dump_command(url: str, dest: str) -> str:
    """The pg_dump line that backs up the PostgreSQL database at `url` to `dest` (custom format), no password."""
    parsed = make_url(url)
    return shlex.join(["pg_dump", "--format=custom", *_pg_options(parsed), f"--file={dest}", parsed.database or ""])


def pg_restore_command(url: str, backup: str) -> str:
    """The pg_restore line that puts the dump `backup` back into the PostgreSQL database at `url`, no password."""
    parsed = make_url(url)
    return shlex.join(["pg_restore", "--clean", "--if-exists", "--single-transaction", *_pg_options(parsed),
                       f"--dbname={parsed.database or ''}", backup])
