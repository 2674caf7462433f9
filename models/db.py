"""Engine and sessions (SQLite in WAL mode by default, PostgreSQL at scale), Alembic upgrades, and the lock
that lets processes start together on one database."""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVarTuple, cast

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Connection,
    CursorResult,
    Executable,
    Insert,
    Row,
    Select,
    Table,
    event,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from models.base import table

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

try:
    import fcntl
except ImportError:                     # Windows: no flock, and no lock file (run one process per database there)
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("qunbot.db")
MIGRATIONS = Path(__file__).with_name("migrations")
ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
URL_EXAMPLES = "sqlite:///path/to/qunbot.db or postgresql://user:password@host/dbname"
STARTUP_LOCK_KEY = 0x71756E626F74       # "qunbot": PostgreSQL advisory lock key held while a process starts
_Ts = TypeVarTuple("_Ts")


class DatabaseUrlError(ValueError):
    """A database URL qunbot cannot use; the message says why in one line, without the password."""


class DatabaseUnavailable(Exception):
    """The database cannot be opened (server down, wrong credentials, directory missing); one line, no password."""


def database_url(raw: str) -> str:
    """The URL to connect with, for what people write: sqlite:///path and postgresql://… (or postgres://…) get
    the async drivers qunbot uses (sqlite+aiosqlite, postgresql+asyncpg); anything else raises DatabaseUrlError."""
    try:
        url = make_url(raw.strip())
    except ArgumentError:
        raise DatabaseUrlError(f"{_masked(raw)!r} is not a database URL; write {URL_EXAMPLES}") from None
    backend, _, driver = url.drivername.partition("+")
    backend = "postgresql" if backend == "postgres" else backend
    async_driver = ASYNC_DRIVERS.get(backend)
    if async_driver is None or driver not in ("", async_driver):
        raise DatabaseUrlError(f"qunbot cannot use the database {_shown(url)}; write {URL_EXAMPLES}")
    if backend == "postgresql":
        try:
            import asyncpg  # noqa: F401
        except ImportError:
            raise DatabaseUrlError("PostgreSQL needs the asyncpg driver, which is not installed: "
                                   "pip install -e '.[postgres]'") from None
    return url.set(drivername=f"{backend}+{async_driver}").render_as_string(hide_password=False)


def _shown(url: URL) -> str:
    """A URL fit for a log line or a message: the password replaced by ***."""
    return url.render_as_string(hide_password=True)


def _masked(raw: str) -> str:
    """Text that failed to parse as a URL may still carry a password (user:password@host)."""
    return re.sub(r"([^:/@]+):[^@]*@", r"\1:***@", raw)


# PostgreSQL's serialization failure and deadlock: the transaction lost a race, not its meaning.
_LOST_RACE_SQLSTATES = ("40001", "40P01")


def met_another_transaction(exc: BaseException) -> bool:
    """A write that met another transaction's (a number or key taken first, a lock held past the timeout, a
    deadlock): rolled back whole, the transaction can simply run again."""
    if isinstance(exc, (IntegrityError, OperationalError)):
        return True
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _LOST_RACE_SQLSTATES


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite database; None for PostgreSQL and in-memory SQLite."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:") \
            or url.query.get("mode") == "memory":
        return None
    return Path(url.database)


def create_engine(url: str) -> AsyncEngine:
    url = database_url(url)
    if is_sqlite(url):
        # Sessions always end their own transaction, so the pool's extra rollback on return is a wasted
        # round trip to aiosqlite's thread on every command; each statement is one trip (models.sqlite_driver).
        from models import sqlite_driver

        engine = create_async_engine(url, connect_args={"timeout": 30}, pool_reset_on_return=None,
                                     module=sqlite_driver.dbapi())

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True)


async def changed(db: AsyncSession, statement: Executable) -> int:
    """Run an UPDATE or DELETE; how many rows it changed."""
    return cast(CursorResult[Any], await db.execute(statement)).rowcount


async def plain_rows(db: AsyncSession, statement: Select[*_Ts] | CompoundSelect[*_Ts]
                     ) -> Sequence[Row[*_Ts]]:
    """The rows of a query of columns, read on the session's connection without the ORM's handling of each row
    (thousands at once). Nothing pending is flushed first: for what the transaction has not changed."""
    return (await (await db.connection()).execute(statement)).all()


def dialect_of(db: AsyncSession) -> str:
    """'sqlite' or 'postgresql'."""
    return db.get_bind().dialect.name


def _insert(db: AsyncSession, model: type[Any] | Table) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT, which knows ON CONFLICT."""
    return postgresql.insert(model) if dialect_of(db) == "postgresql" else sqlite.insert(model)


def insert_ignoring_conflicts(db: AsyncSession, model: type[Any] | Table) -> Insert:
    """INSERT that leaves an existing row alone (another event or process got there first)."""
    return _insert(db, model).on_conflict_do_nothing()


def upsert_adding(db: AsyncSession, model: type[Any], keys: Sequence[str], counts: Sequence[str]) -> Insert:
    """INSERT of counters that adds them to the row already there with the same `keys` (run it with many rows)."""
    rows = table(model)                 # a plain (Core) INSERT: many rows, no ORM bookkeeping
    insert = _insert(db, rows)
    return insert.on_conflict_do_update(index_elements=list(keys),
                                        set_={c: rows.c[c] + insert.excluded[c] for c in counts})


def upsert_replacing(db: AsyncSession, model: type[Any], keys: Sequence[str], values: Sequence[str],
                     where: Callable[[Any, Any], ColumnElement[bool]]) -> Insert:
    """INSERT that replaces the `values` of the row already there with the same `keys` when `where(row, new)` holds
    for the row (the table's columns) and the new values (`excluded`); else it changes nothing."""
    rows = table(model)
    insert = _insert(db, rows)
    return insert.on_conflict_do_update(index_elements=list(keys), set_={c: insert.excluded[c] for c in values},
                                        where=where(rows.c, insert.excluded))


def sessionmaker(engine: AsyncEngine, *, account: str | None = None) -> async_sessionmaker[AsyncSession]:
    """Sessions of one bot process; `account`, the bot account it runs as, is each session's info["account"]."""
    return async_sessionmaker(engine, expire_on_commit=False, info={"account": account})


def alembic_config(url: str) -> AlembicConfig:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _upgrade(connection: Connection, url: str, revision: str) -> None:
    from alembic import command

    cfg = alembic_config(url)
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


_REVISION_LINE = re.compile(r"^(down_revision|revision)\s*=\s*['\"]?([^'\"\s]+)", re.M)


def head_revision() -> str:
    """The newest migration's revision id, read from the migration files (the one no other revises)."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for key, value in _REVISION_LINE.findall(path.read_text(encoding="utf-8")):
            (revisions if key == "revision" else revised).add(value)
    heads = revisions - revised
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The schema's revision (None for a new database), read without loading Alembic."""
    async with engine.connect() as conn:
        try:
            return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        except DBAPIError:          # a new database: no version table yet
            return None


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to `revision` (the initial revision creates everything). A database already at the head
    is left alone without loading Alembic (~11 MB a running bot need not carry)."""
    if revision == "head" and await current_revision(engine) == head_revision():
        return
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, engine.url.render_as_string(hide_password=False), revision)


def _downgrade(connection: Connection, url: str, revision: str) -> None:
    from alembic import command

    cfg = alembic_config(url)
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Take the schema back to `revision` (what an older version of qunbot expects)."""
    async with engine.begin() as conn:
        await conn.run_sync(_downgrade, engine.url.render_as_string(hide_password=False), revision)


@asynccontextmanager
async def startup_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    """Held while a process migrates the schema and writes config.yaml's rows: processes starting together on one
    database take turns instead of both creating the tables. The lock ends with the process that holds it: a
    PostgreSQL session advisory lock, or for a SQLite file an flock on `<file>.startup-lock` beside it (in-memory
    SQLite belongs to one process). Raises DatabaseUnavailable when the database cannot be opened."""
    path = sqlite_file(engine.url)
    if engine.dialect.name == "postgresql":
        async with _connection(engine) as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": STARTUP_LOCK_KEY})
            await conn.commit()
            try:
                yield
            finally:
                # Closing this session releases the lock, whatever state an interrupted start left it in.
                await conn.invalidate()
    elif path is None or fcntl is None:
        async with _connection(engine):
            yield
    else:
        # The lock file first: a missing directory is told before SQLite is asked to open a file there.
        async with sqlite_startup_lock(path, engine.url), _connection(engine):
            yield


@asynccontextmanager
async def sqlite_startup_lock(path: Path, url: URL) -> AsyncIterator[None]:
    """The startup lock of the SQLite file `path` (at `url`) without opening the database: what a restore holds
    while it replaces the file, so that a bot starting meanwhile waits and then opens the new one."""
    if fcntl is None:
        yield
        return
    async with _file_lock(path.with_name(path.name + ".startup-lock"), url):
        yield


@asynccontextmanager
async def _file_lock(path: Path, url: URL) -> AsyncIterator[None]:
    """An exclusive flock on `path` beside the database at `url`, waited for without blocking the event loop."""
    try:
        lock_file = open(path, "a")
    except OSError as exc:
        reason = f"{path}: {exc.strerror}" if path.parent.is_dir() else f"there is no directory {path.parent}"
        raise DatabaseUnavailable(f"cannot open the database {_shown(url)}: {reason}") from None
    with lock_file:
        waiting = False
        while True:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waiting:
                    log.info("another process is starting on %s; waiting for it", url.database)
                    waiting = True
                # Polled rather than waited for in a thread: a cancelled start leaves no thread behind that
                # would take the lock later.
                await asyncio.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


@asynccontextmanager
async def _connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection, or DatabaseUnavailable saying in one line why there is none."""
    try:
        conn = await engine.connect()
    except (OSError, DBAPIError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0] or type(exc).__name__
        raise DatabaseUnavailable(f"cannot open the database {_shown(engine.url)}: {reason}") from None
    try:
        yield conn
    finally:
        await conn.close()
