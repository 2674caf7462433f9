"""`qunbot simulate`: a scripted conversation on simulated time, everything the bot sent as JSON Lines (or, with
`--format chat`, as a transcript people read: bot.transcript)."""
from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Protocol, TextIO
from zoneinfo import ZoneInfo

from bot.adapters.base import (
    IncomingEvent,
    IncomingMessage,
    JoinEvent,
    LeaveEvent,
    Member,
    MembersEvent,
    MessageKind,
    Outgoing,
)
from bot.adapters.recording import RecordingAdapter
from bot.app import ROUTERS, App
from bot.clock import FakeClock
from bot.config import Config
from bot.router import Router

log = logging.getLogger("qunbot.simulate")
MAX_STEPS = 100_000


class ScriptError(Exception):
    """A malformed script: 'line N: reason'."""


@dataclass(frozen=True)
class ScriptEvent:
    line: int
    type: str
    at: datetime
    data: dict[str, Any]


_FIELDS: dict[str, dict[str, tuple[type, bool]]] = {
    # field: (type, required)
    "members": {"room": (str, True), "members": (list, True)},
    "message": {"room": (str, False), "user": (str, True), "name": (str, False), "text": (str, False),
                "mentions": (list, False), "id": (str, False), "kind": (str, False), "url": (str, False),
                # a reply to an earlier message (its id), a file (its name), an image (its path)
                "quote": (str, False), "file": (str, False), "image": (str, False)},
    "join": {"room": (str, True), "user": (str, True), "name": (str, False), "inviter": (str, False)},
    "leave": {"room": (str, True), "user": (str, True)},
    "tick": {},
    "restart": {},
}


def _parse_line(n: int, raw: str) -> ScriptEvent:
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ScriptError(f"line {n}: not valid JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise ScriptError(f"line {n}: expected a JSON object")
    kind = obj.get("type")
    if kind not in _FIELDS:
        raise ScriptError(f"line {n}: type must be one of {', '.join(_FIELDS)}")
    at_raw = obj.get("at")
    if not isinstance(at_raw, str):
        raise ScriptError(f"line {n}: 'at' is required (ISO-8601 with offset)")
    try:
        at = datetime.fromisoformat(at_raw)
    except ValueError:
        raise ScriptError(f"line {n}: 'at' is not an ISO-8601 time: {at_raw!r}") from None
    if at.tzinfo is None:
        raise ScriptError(f"line {n}: 'at' needs a UTC offset, e.g. +08:00")
    spec = _FIELDS[kind]
    for key, value in obj.items():
        if key in ("type", "at"):
            continue
        if key not in spec:
            raise ScriptError(f"line {n}: unknown field {key!r} for a {kind} event")
        if not isinstance(value, spec[key][0]):
            raise ScriptError(f"line {n}: {key!r} must be a {spec[key][0].__name__}")
    for key, (_, required) in spec.items():
        if required and key not in obj:
            raise ScriptError(f"line {n}: a {kind} event needs {key!r}")
    if kind == "message":
        if obj.get("kind", "text") not in {k.value for k in MessageKind}:
            raise ScriptError(f"line {n}: kind must be one of {', '.join(k.value for k in MessageKind)}")
        if not all(isinstance(m, str) for m in obj.get("mentions", [])):
            raise ScriptError(f"line {n}: 'mentions' must be a list of user ids")
        if "file" in obj and "image" in obj:
            raise ScriptError(f"line {n}: a message is a file or an image, not both")
        for media, kind_of in (("file", "file"), ("image", "image")):
            if media in obj and obj.setdefault("kind", kind_of) != kind_of:
                raise ScriptError(f"line {n}: {media!r} goes with kind {kind_of!r}")
        if "text" not in obj and obj.get("kind", "text") == "text":
            raise ScriptError(f"line {n}: a text message needs 'text'")
    if kind == "members":
        for m in obj["members"]:
            if not (isinstance(m, dict) and isinstance(m.get("user"), str) and isinstance(m.get("name", ""), str)
                    and set(m) <= {"user", "name"}):
                raise ScriptError(f"line {n}: each member must be {{\"user\": id, \"name\": nickname}}")
    return ScriptEvent(n, kind, at, obj)


def parse_script(text: str) -> list[ScriptEvent]:
    """Validate the whole script before anything runs."""
    events: list[ScriptEvent] = []
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        event = _parse_line(n, raw)
        if events and event.at < events[-1].at:
            raise ScriptError(f"line {n}: 'at' goes back in time (events must be in time order)")
        events.append(event)
    return events


def to_incoming(ev: ScriptEvent) -> IncomingEvent:
    d, at = ev.data, ev.at
    if ev.type == "message":
        return IncomingMessage(event_id=d.get("id") or f"line-{ev.line}", room_id=d.get("room"),
                               sender_id=d["user"], sender_name=d.get("name") or d["user"],
                               text=d.get("text", d.get("file", "")), sent_at=at,
                               kind=MessageKind(d.get("kind", "text")), mention_ids=tuple(d.get("mentions", ())),
                               url=d.get("url"), quoted_id=d.get("quote"), path=d.get("image"))
    if ev.type == "join":
        return JoinEvent(event_id=f"line-{ev.line}", room_id=d["room"], user_id=d["user"],
                         name=d.get("name") or d["user"], at=at, inviter_id=d.get("inviter"))
    if ev.type == "leave":
        return LeaveEvent(event_id=f"line-{ev.line}", room_id=d["room"], user_id=d["user"], at=at)
    if ev.type == "members":
        return MembersEvent(event_id=f"line-{ev.line}", room_id=d["room"], at=at,
                            members=tuple(Member(m["user"], m.get("name") or m["user"]) for m in d["members"]))
    raise ValueError(ev.type)


class Driver:
    """Runs an App on a FakeClock: time moves only forward, stopping at every job fire time and send time."""

    def __init__(self, config: Config, database_url: str, start: datetime,
                 on_send: Callable[[Outgoing, datetime], None], routers: tuple[Router, ...] = ROUTERS) -> None:
        self.config = config
        self.database_url = database_url
        self.routers = routers
        self.clock = FakeClock(start)
        self.on_send = on_send
        self.adapter = RecordingAdapter(lambda out: self.on_send(out, self.clock.now()))
        self.app: App | None = None

    async def start(self) -> App:
        self.app = App(self.config, self.adapter, self.clock, database_url=self.database_url, routers=self.routers)
        await self.app.start()
        return self.app

    async def advance_to(self, target: datetime) -> None:
        """Move the clock to `target`, running what falls due on the way, in time order."""
        app = self.app
        assert app is not None
        for _ in range(MAX_STEPS):
            due = await app.next_due()
            if due is None or due > target:
                break
            self.clock.set(max(due, self.clock.now()))
            await app.run_due(self.clock.now())
            await app.settle()
        else:
            log.error("gave up advancing to %s after %d steps", target, MAX_STEPS)
        if target > self.clock.now():
            self.clock.set(target)

    async def handle(self, event: IncomingEvent) -> None:
        assert self.app is not None
        await self.app.handle(event)

    async def restart(self, at: datetime) -> None:
        """The process died right after the last event: nothing more was sent; it starts again at `at`."""
        assert self.app is not None
        await self.app.close()
        self.clock.set(max(at, self.clock.now()))
        await self.start()
        await self.app.run_due(self.clock.now())
        await self.app.settle()

    async def drain(self) -> None:
        """Pending messages and timers go out in simulated time, the clock stopping at the last; no jobs run."""
        assert self.app is not None
        await self.app.history.flush()
        for _ in range(MAX_STEPS):
            due = await self.app.sender.next_due()
            if due is None:
                return
            self.clock.set(max(due, self.clock.now()))
            await self.app.sender.send_due(self.clock.now())
        log.error("gave up draining the outbox after %d steps", MAX_STEPS)

    async def close(self) -> None:
        if self.app is not None:
            await self.app.close()


def output_line(out: Outgoing, at: datetime, tz: tzinfo) -> str:
    local = at.astimezone(tz)
    obj: dict[str, Any] = {"at": local.isoformat(timespec="milliseconds" if local.microsecond else "seconds")}
    if out.kind == "remove":
        obj.update(type="remove", room=out.chat.room_id, user=out.target, reason=out.text)
    elif out.kind in ("image", "file"):
        obj.update(type=out.kind, room=out.chat.room_id, path=out.path, caption=out.text)
        if out.chat.room_id is None:
            obj.pop("room")
            obj["user"] = out.chat.user_id
    elif out.chat.room_id is not None:
        obj.update(type="say", room=out.chat.room_id, text=out.text, mentions=list(out.mention_ids))
    else:
        obj.update(type="say", user=out.chat.user_id, text=out.text)
    return json.dumps(obj, ensure_ascii=False)


class Renderer(Protocol):
    """Turns what happened into text for stdout; an empty string prints nothing."""

    def received(self, event: IncomingEvent) -> str: ...
    def restarted(self, at: datetime) -> str: ...
    def sent(self, out: Outgoing, at: datetime) -> str: ...


class JsonLines:
    """The contract's output: everything the bot sent, one JSON object per line; what came in is not repeated."""

    def __init__(self, config: Config) -> None:
        self.tz = ZoneInfo(config.timezone)

    def received(self, event: IncomingEvent) -> str:
        return ""

    def restarted(self, at: datetime) -> str:
        return ""

    def sent(self, out: Outgoing, at: datetime) -> str:
        return output_line(out, at, self.tz) + "\n"


async def simulate(config: Config, events: list[ScriptEvent], out: TextIO, database_url: str | None = None,
                   renderer: Renderer | None = None) -> None:
    """Play `events` and write everything sent to `out` (as JSON Lines unless another `renderer` is given)."""
    if not events:
        return
    render = renderer or JsonLines(config)
    tmpdir = None
    if database_url is None:
        tmpdir = tempfile.TemporaryDirectory(prefix="qunbot-sim-")
        database_url = f"sqlite+aiosqlite:///{os.path.join(tmpdir.name, 'simulate.db')}"

    reader_gone = False

    def write(text: str) -> None:
        nonlocal reader_gone
        if reader_gone or not text:
            return
        try:
            out.write(text)
            out.flush()
        except BrokenPipeError:          # `qunbot simulate ... | head`: the reader has what it wanted
            reader_gone = True

    driver = Driver(config, database_url, events[0].at, lambda msg, at: write(render.sent(msg, at)))
    try:
        await driver.start()
        for ev in events:
            if reader_gone:
                break
            if ev.type == "restart":
                write(render.restarted(ev.at))
                await driver.restart(ev.at)
                continue
            await driver.advance_to(ev.at)
            if ev.type != "tick":
                incoming = to_incoming(ev)
                write(render.received(incoming))
                await driver.handle(incoming)
        await driver.drain()
    finally:
        await driver.close()
        if tmpdir is not None:
            tmpdir.cleanup()
