"""A chat harness: conversations in tests read like the chat they check."""
from __future__ import annotations

import asyncio
import ipaddress
import json
import shutil
import socket
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

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
                  drain: bool = True) -> list[str]:
        """Send a message (room=None: privately to the bot); the texts sent in answer, in order."""
        now = await self._at(at, step)
        self._new = []
        await self.driver.handle(IncomingMessage(id or self._id(), room, user, name or NAMES.get(user, user), text,
                                                 now, kind=kind, mention_ids=tuple(mentions)))
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


@pytest.fixture
def db_url(template_db: Path, tmp_path: Path) -> str:
    path = tmp_path / "qunbot.db"
    shutil.copy(template_db, path)
    return f"sqlite+aiosqlite:///{path}"


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
