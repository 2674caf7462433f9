"""A chat harness: conversations in tests read like the chat they check."""
from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import queue
import shutil
import socket
import threading
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.adapters.base import (
    Capability,
    IncomingMessage,
    JoinEvent,
    LeaveEvent,
    Member,
    MembersEvent,
    MessageKind,
    Outgoing,
)
from bot.adapters.recording import ALL_CAPABILITIES
from bot.app import ROUTERS, App
from bot.config import Config, parse_config
from bot.simulate import Driver, output_line
from models.db import create_engine, upgrade
from tests import pg

START = datetime.fromisoformat("2026-11-23T09:00:00+08:00")   # a Monday


def head_revision() -> str:
    """The newest schema revision (what `qunbot db upgrade` prints once done)."""
    from alembic.script import ScriptDirectory

    from models.db import alembic_config

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
NAMES = {"u_owner": "老王", "u1": "张三", "u2": "李四", "u3": "王五", "u4": "赵六", "u_mod": "小版"}


def to(user: str, text: str) -> str:
    """A reply about one member in a group: it starts by @-mentioning them."""
    return f"@{NAMES.get(user, user)} {text}"


def sh(text: str) -> datetime:
    """A Shanghai wall-clock time: sh("2026-11-30T09:00:00")."""
    return datetime.fromisoformat(text + "+08:00")


def make_config(**overrides: Any) -> Config:
    """The config of the tests' community; keyword arguments replace community keys (or top-level with top_)."""
    community: dict[str, Any] = {"id": "growth", "name": "增长学习社", "owners": ["u_owner"],
                                 "groups": [{"room": "r1"}]}
    top: dict[str, Any] = {"communities": [community]}
    for key, value in overrides.items():
        if key.startswith("top_"):
            top[key[4:]] = value
        else:
            community[key] = value
    return parse_config(top, env={})


class NetworkBlocked(RuntimeError):
    """A test tried to reach beyond this machine."""


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])     # an IPv6 address may carry a zone: fe80::1%eth0
    except ValueError:
        return None


def _is_loopback(host: str) -> bool:
    ip = _ip(host)
    if ip is None:
        return host.lower().rstrip(".") == "localhost"
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback


def _shown(host: str, port: Any) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@pytest.fixture(autouse=True)
def offline(monkeypatch) -> Iterator[list[str]]:
    """Tests do not reach the network: connecting anywhere but loopback (127.0.0.0/8, ::1, localhost) or a Unix
    socket, or looking up any other name, raises NetworkBlocked; and should the code under test swallow that, the
    test fails all the same. Yields the addresses refused (a test that expects refusals clears it). Processes a test
    starts are outside its reach."""
    refused: list[str] = []

    def refuse(address: str) -> NetworkBlocked:
        refused.append(address)
        return NetworkBlocked(f"tests must not reach the network: {address}")

    def guarded(connect):
        def connect_locally(sock: socket.socket, address, *args, **kwargs):
            if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
                raise refuse(_shown(address[0], address[1]))
            return connect(sock, address, *args, **kwargs)
        return connect_locally

    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        # An address is only parsed; a name other than localhost would be asked of a DNS server.
        name = host.decode() if isinstance(host, bytes) else host
        if name and _ip(name) is None and not _is_loopback(name):
            raise refuse(_shown(name, port))
        return real_getaddrinfo(host, port, *args, **kwargs)

    # asyncio, aiohttp, asyncpg and socket.create_connection all come through these.
    monkeypatch.setattr(socket.socket, "connect", guarded(socket.socket.connect))
    monkeypatch.setattr(socket.socket, "connect_ex", guarded(socket.socket.connect_ex))
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield refused
    if refused:
        pytest.fail(f"tests must not reach the network: {', '.join(refused)}", pytrace=False)


DATABASES = ("sqlite", "postgresql")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--db", choices=DATABASES, default=None,
                     help="the database the tests' bots run on (default: $QUNBOT_TEST_DB, else sqlite)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: keeps SQLite on purpose (checks SQLite itself: its file, "
                                       "locks, WAL, how its URLs are written; or runs qunbot in a process on a "
                                       "database file); runs in the SQLite pass only")
    config.addinivalue_line("markers", "own_postgresql: makes a PostgreSQL database of its own whichever pass "
                                       "selects (e.g. for qunbot processes it starts); runs once, in the SQLite "
                                       "pass")


def selected_database(config: pytest.Config) -> str:
    """'sqlite' or 'postgresql': the kind of database `db_url` and `databases` give."""
    chosen = config.getoption("--db") or os.environ.get("QUNBOT_TEST_DB") or "sqlite"
    if chosen not in DATABASES:
        raise pytest.UsageError(f"QUNBOT_TEST_DB={chosen!r}: choose one of {', '.join(DATABASES)}")
    return chosen


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if selected_database(config) == "sqlite":
        return
    skip = pytest.mark.skip(reason="keeps SQLite on purpose (sqlite_only): runs in the SQLite pass")
    once = pytest.mark.skip(reason="makes its own PostgreSQL database (own_postgresql): runs in the SQLite pass")
    for item in items:
        if item.get_closest_marker("sqlite_only"):
            item.add_marker(skip)
        elif item.get_closest_marker("own_postgresql"):
            item.add_marker(once)


@pytest.fixture(scope="session")
def template_db(tmp_path_factory) -> Path:
    """One migrated SQLite file; each test starts from a copy of it."""
    path = tmp_path_factory.mktemp("template") / "template.db"

    async def build() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(build())
    return path


class PostgresDatabases:
    """Fresh migrated databases on the test server, kept in a pool: one template database is migrated once and
    copied (CREATE DATABASE … TEMPLATE) when the pool is empty; a database whose test passed is emptied (every row deleted
    but alembic_version's, sequences restarted) and goes back to the pool, the others are dropped
    (DROP DATABASE waits for a checkpoint: far slower). Threads of their own do this while the tests run; all of the
    databases, template included, are dropped when the session ends."""

    WORKERS = 2
    AHEAD = 2           # databases made ready before the first test

    def __init__(self) -> None:
        self.template = f"qunbot_tmpl_{uuid.uuid4().hex[:10]}"
        self.base = ""
        self.emptying = ""
        self.jobs: queue.Queue[tuple[str, str]] = queue.Queue()
        self.ready: queue.Queue[str | BaseException] = queue.Queue()
        self.made: set[str] = set()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        url, name = asyncio.run(pg.create_database())     # skips, or fails under CI=true, without a server
        self.base = url.rsplit("/", 1)[0]
        self.made.add(name)
        asyncio.run(self._admin(f'ALTER DATABASE "{name}" RENAME TO "{self.template}"'))
        self.made.discard(name)
        asyncio.run(self._migrate())
        for n in range(self.WORKERS):
            thread = threading.Thread(target=asyncio.run, args=(self._work(),), name=f"test-databases-{n}",
                                      daemon=True)
            thread.start()
            self.threads.append(thread)
        for _ in range(self.AHEAD):
            self.jobs.put(("create", ""))

    async def _admin(self, *statements: str) -> None:
        import asyncpg

        admin = await asyncpg.connect(pg.ADMIN_URL, timeout=5)
        try:
            for statement in statements:
                await admin.execute(statement)
        finally:
            await admin.close()

    async def _migrate(self) -> None:
        from models import Base

        engine = create_engine(f"{self.base}/{self.template}")
        try:
            await upgrade(engine)
            async with engine.connect() as conn:
                sequences = (await conn.execute(text("SELECT sequencename FROM pg_sequences "
                                                     "WHERE schemaname = 'public' ORDER BY 1"))).scalars().all()
        finally:
            await engine.dispose()
        # DELETE rather than TRUNCATE: on tables this small it is a hundred times faster (TRUNCATE makes new files);
        # referencing tables first.
        self.emptying = "; ".join([*(f'DELETE FROM "{table.name}"' for table in reversed(Base.metadata.sorted_tables)),
                                   *(f"SELECT setval('\"{seq}\"', 1, false)" for seq in sequences)])

    async def _work(self) -> None:
        import asyncpg

        admin = await asyncpg.connect(pg.ADMIN_URL, timeout=5)
        try:
            while True:
                job, name = await asyncio.to_thread(self.jobs.get)
                if job == "stop":
                    break
                try:
                    if job == "create":
                        name = f"qunbot_test_{uuid.uuid4().hex[:10]}"
                        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
                        self.made.add(name)
                        # A test database needs no durability across a server crash: commits need not wait
                        # for the disk (what is visible to other transactions, and when, is unchanged).
                        await admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
                        self.ready.put(f"{self.base}/{name}")
                    elif job == "empty":
                        await self._empty(name)
                        self.ready.put(f"{self.base}/{name}")
                    else:
                        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                        self.made.discard(name)
                except Exception as exc:
                    if job == "create":         # the test waiting for it fails with the reason
                        self.ready.put(exc)
                    elif job == "empty":
                        self.jobs.put(("drop", name))
        finally:
            await admin.close()

    async def _empty(self, name: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(f"{pg.ADMIN_URL.rsplit('/', 1)[0]}/{name}", timeout=5)
        try:
            # Connections a test left open may hold locks (an advisory lock too): they end first.
            await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            await conn.execute(self.emptying)
        finally:
            await conn.close()

    def new(self) -> str:
        try:
            got = self.ready.get_nowait()
        except queue.Empty:
            self.jobs.put(("create", ""))
            got = self.ready.get(timeout=120)
        if isinstance(got, BaseException):
            raise got
        return got

    def drop(self, url: str, *, reuse: bool = False) -> None:
        """Done with the database at `url`: emptied for another test when `reuse` (its test left the schema as
        it found it), else dropped."""
        self.jobs.put(("empty" if reuse else "drop", url.rsplit("/", 1)[1]))

    def close(self) -> None:
        for _ in self.threads:
            self.jobs.put(("stop", ""))
        for thread in self.threads:
            thread.join(timeout=120)
        if self.base:
            asyncio.run(self._admin(*(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
                                      for name in (*self.made, self.template))))


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    """Skips (fails under CI=true) without a PostgreSQL server."""
    databases = PostgresDatabases()
    try:
        databases.start()
        yield databases
    finally:
        databases.close()


class SqliteDatabases:
    """Copies of the migrated SQLite template, in the session's temporary directory."""

    def __init__(self, template: Path, directory: Path) -> None:
        self.template = template
        self.directory = directory
        self.names = (f"db{n}.db" for n in range(1_000_000_000))

    def new(self) -> str:
        path = self.directory / next(self.names)
        shutil.copy(self.template, path)
        return f"sqlite+aiosqlite:///{path}"

    def drop(self, url: str, *, reuse: bool = False) -> None:
        path = Path(url.split("///", 1)[1])
        for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def databases(request: pytest.FixtureRequest, tmp_path_factory) -> SqliteDatabases | PostgresDatabases:
    """Makes (`.new()`: its URL) and drops (`.drop(url)`) fresh migrated databases of the selected kind."""
    if selected_database(request.config) == "postgresql":
        return request.getfixturevalue("postgres_databases")
    return SqliteDatabases(request.getfixturevalue("template_db"), tmp_path_factory.mktemp("databases"))


class Chat:
    """Drives an App on a FakeClock; `say` returns the texts the bot sent in answer."""

    def __init__(self, config: Config, db_url: str, *, capabilities: frozenset[Capability] = ALL_CAPABILITIES,
                 routers=ROUTERS) -> None:
        self.config = config
        self.db_url = db_url
        self.sent: list[dict[str, Any]] = []
        self._new: list[dict[str, Any]] = []
        self.driver = Driver(config, db_url, START, self._record, routers=routers)
        self.driver.adapter.capabilities = capabilities
        self._n = 0

    def _record(self, out: Outgoing, at: datetime) -> None:
        row = json.loads(output_line(out, at, START.tzinfo))
        self.sent.append(row)
        self._new.append(row)

    @property
    def app(self) -> App:
        assert self.driver.app is not None
        return self.driver.app

    @property
    def clock(self):
        return self.driver.clock

    async def start(self, members: Iterable[str] = ("u_owner", "u1", "u2", "u3"), room: str = "r1") -> None:
        await self.driver.start()
        if members:
            await self.members(room, members)

    def _id(self) -> str:
        self._n += 1
        return f"t{self._n}"

    async def _at(self, at: datetime | None, step: timedelta) -> datetime:
        target = at or self.clock.now() + step
        await self.driver.advance_to(target)
        return target

    async def members(self, room: str, users: Iterable[str]) -> None:
        await self.driver.handle(MembersEvent(self._id(), room, tuple(Member(u, NAMES.get(u, u)) for u in users),
                                              self.clock.now()))

    async def say(self, text: str, user: str = "u1", *, name: str | None = None, room: str | None = "r1",
                  mentions: Iterable[str] = (), id: str | None = None, at: datetime | None = None,
                  kind: MessageKind = MessageKind.TEXT, step: timedelta = timedelta(seconds=10),
                  drain: bool = True, url: str | None = None, image: bytes | None = None) -> list[str]:
        """Send a message (room=None: privately to the bot; `url` of a link, `image` bytes); the texts sent in
        answer, in order."""
        now = await self._at(at, step)
        self._new = []
        await self.driver.handle(IncomingMessage(id or self._id(), room, user, name or NAMES.get(user, user), text,
                                                 now, kind=kind, mention_ids=tuple(mentions), url=url, data=image))
        if drain:
            await self.driver.drain()
        return [row.get("text", row.get("caption", "")) for row in self._new]

    async def dm(self, text: str, user: str = "u1", **kw: Any) -> list[str]:
        return await self.say(text, user, room=None, **kw)

    async def join(self, user: str, room: str = "r1", *, name: str | None = None, inviter: str | None = None,
                   at: datetime | None = None, step: timedelta = timedelta(seconds=10)) -> None:
        now = await self._at(at, step)
        await self.driver.handle(JoinEvent(self._id(), room, user, name or NAMES.get(user, user), now, inviter))

    async def leave(self, user: str, room: str = "r1") -> None:
        await self.driver.handle(LeaveEvent(self._id(), room, user, self.clock.now()))

    async def tick(self, to: datetime) -> list[dict[str, Any]]:
        """Move time forward (jobs run on the way) and send what is pending; the rows sent meanwhile."""
        self._new = []
        await self.driver.advance_to(to)
        await self.driver.drain()
        return list(self._new)

    async def flush(self) -> list[dict[str, Any]]:
        self._new = []
        await self.driver.drain()
        return list(self._new)

    async def signup(self, user: str, form: str, *, room: str | None = "r1") -> None:
        await self.say(f"/signup {form}", user, room=room)
        replies = await self.say("/agree", user, room=room)
        assert any("登记完成" in r or "You're all set" in r for r in replies), replies

    async def close(self) -> None:
        await self.driver.close()


async def two_communities(db_url: str, design_members: Iterable[str] = ("u_owner", "u1")) -> Chat:
    """growth (r1: u_owner, u1, u2, u3) and design (r2: `design_members`), both owned by u_owner."""
    config = parse_config({"communities": [
        {"id": "growth", "name": "增长学习社", "owners": ["u_owner"], "groups": [{"room": "r1"}]},
        {"id": "design", "name": "设计社", "owners": ["u_owner"], "groups": [{"room": "r2"}]},
    ]}, env={})
    c = Chat(config, db_url)
    await c.start()
    await c.members("r2", design_members)
    return c


FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    if report.failed:
        item.stash[FAILED] = True
    return report


@pytest.fixture
def db_url(request: pytest.FixtureRequest, databases: SqliteDatabases | PostgresDatabases) -> Iterator[str]:
    """A fresh migrated database for this test: a copy of the SQLite template, or (QUNBOT_TEST_DB=postgresql or
    --db=postgresql) an empty PostgreSQL database made from the template. Once the test has passed it is dropped or
    emptied for another test; a test that failed may have left anything behind, so its database is dropped."""
    url = databases.new()
    yield url
    databases.drop(url, reuse=not request.node.stash.get(FAILED, False))


@pytest.fixture
async def chat(db_url: str):
    c = Chat(make_config(), db_url)
    await c.start()
    yield c
    await c.close()


@pytest.fixture
async def make_chat(db_url: str):
    """Build a Chat with a custom config / capabilities: `c = await make_chat(privacy_threshold=3)`."""
    made: list[Chat] = []

    async def build(*, capabilities: frozenset[Capability] = ALL_CAPABILITIES, routers=ROUTERS,
                    members: Iterable[str] = ("u_owner", "u1", "u2", "u3"), **overrides: Any) -> Chat:
        c = Chat(make_config(**overrides), db_url, capabilities=capabilities, routers=routers)
        await c.start(members=members)
        made.append(c)
        return c

    yield build
    for c in made:
        await c.close()
