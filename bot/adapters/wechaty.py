"""Wechaty adapter: WeChat groups through python-wechaty 0.10.7 and a Wechaty puppet service.

This is the only module in qunbot that imports wechaty. The import happens lazily in `_import_wechaty()`
(called from `WechatyAdapter.run`), so importing this module, building the app with another adapter, or running
the tests never needs wechaty or its heavy dependencies installed.

Facts about python-wechaty 0.10.7 / wechaty-puppet-service 0.8.10 this module is built around (all read from
their sources):

- The client always speaks plaintext gRPC: `PuppetService._init_puppet` opens `grpclib.client.Channel(host, port)`
  without an SSL context and reads no TLS setting at all. The puppet service must therefore run with TLS
  disabled (Node `PuppetServer({tls: {disable: true}})` or WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER=true);
  there is nothing to switch on the Python side.
- The token travels as the HTTP/2 `:authority` (`channel._authority = token`); the 1.x Node server accepts
  that as `authorization: Wechaty <token>`, so a token is needed against such a server. `_init_puppet` reads it
  from the puppet's options when the stream opens.
- `PuppetService.__init__` logs, at WARNING, every token it finds (in its options and in the variables
  WECHATY_PUPPET_SERVICE_TOKEN, TOKEN and token) whenever it also has an endpoint, and the service's
  UNAUTHENTICATED answer quotes the token it refused. hpack, under grpclib, logs each header it encodes at DEBUG.
- Without an endpoint the client asks a remote discovery host for one, hence the endpoint is mandatory here.
- With the service down, `PuppetService.start()` fails with "can't not ping endpoint" (a blocking telnet try of up
  to 3 s), and its constructor warns about endpoints and tokens found twice. `run()` therefore tries a plain TCP
  connection first and raises one ServiceUnreachable that says how to start the gateway; the supervisor logs it
  once per outage. The duplicate-setting warnings (which also quote the token) are filtered out (`_NOISE`).
- `Wechaty.start()` sleeps 60 s and recurses on network errors, stops the whole asyncio loop on
  `WechatyPuppetError` and prints-and-swallows anything else. `run()` therefore drives the same three steps
  itself (init puppet, bridge events, open the event stream) and lets failures propagate to the supervisor.
- Contact/Room objects live in class-level pools shared by every Wechaty instance, holding a reference to the
  puppet that created them; each run gives its classes fresh pools so a restarted client never uses a dead one.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from bot.adapters.base import (
    AdapterStopped,
    Capability,
    IncomingEvent,
    IncomingMessage,
    JoinEvent,
    LeaveEvent,
    Member,
    MembersEvent,
    MessageKind,
    OnEvent,
    Outgoing,
    SendError,
)
from bot.clock import Clock, SystemClock

log = logging.getLogger(__name__)
_SYSTEM_CLOCK = SystemClock()

ENDPOINT_ENV = "WECHATY_PUPPET_SERVICE_ENDPOINT"
TOKEN_ENV = "WECHATY_PUPPET_SERVICE_TOKEN"
# How the README installs the optional wechaty dependencies (run in qunbot's source directory).
INSTALL_COMMAND = "pip install -e '.[wechaty]'"

# Wechaty message types (names of wechaty_grpc's MessageType enum) the bot understands. Matching on the
# enum member's name keeps this table importable without wechaty.
_KIND_BY_TYPE_NAME: dict[str, MessageKind] = {
    "MESSAGE_TYPE_TEXT": MessageKind.TEXT,
    "MESSAGE_TYPE_URL": MessageKind.LINK,
    "MESSAGE_TYPE_IMAGE": MessageKind.IMAGE,
    "MESSAGE_TYPE_MINI_PROGRAM": MessageKind.MINI_PROGRAM,
    "MESSAGE_TYPE_ATTACHMENT": MessageKind.FILE,
    "MESSAGE_TYPE_CONTACT": MessageKind.CONTACT_CARD,
}

# gRPC status names after which the same call may succeed later.
_TRANSIENT_GRPC_STATUSES = frozenset(
    {"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED", "CANCELLED"}
)

# Member look-ups on login run for every member of every room; bound them so a big group does not open
# hundreds of concurrent gRPC calls.
_MEMBER_LOOKUP_CONCURRENCY = 16

# Timestamps above this are milliseconds (2038-01-01 in seconds), the same rule python-wechaty applies.
_MAX_SECONDS_TIMESTAMP = 2_145_888_000

# How long close() waits for run() to tear the client down, and teardown for the service's stop() call.
_CLOSE_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 5.0
# How long the reachability check waits for the service to accept a TCP connection.
_CONNECT_TIMEOUT_S = 3.0

# python-wechaty's warnings that tell the operator nothing, by logger: on every (re)start PuppetService's
# constructor warns of an endpoint or token found both in its options and in the environment (quoting the token),
# and the plugin manager that no plugin serves a web page; a room or contact loaded twice is warned about too.
_NOISE = {
    "PuppetService": ("there are two endpoints", "there are two tokens", "there are endpoint<"),
    "wechaty.plugin": ("there is not registed blueprint",),
    "Accessory": ("set payload more than once",),
}


# A queued wechaty event: a call that translates it into zero or more neutral events.
_TranslateJob = Callable[[], Awaitable[Sequence[IncomingEvent]]]


class WechatyConfigError(ValueError):
    """The wechaty adapter is missing a setting it cannot run without."""


class WechatyMissing(AdapterStopped):
    """python-wechaty is not installed: no restart can help."""


class ServiceUnreachable(ConnectionError):
    """Nothing accepts connections at the puppet service endpoint (the gateway is not running)."""


def _not_noise(record: logging.LogRecord) -> bool:
    return not any(text in record.getMessage() for text in _NOISE.get(record.name, ()))


def _import_wechaty() -> ModuleType:
    """Import wechaty with the two shims 0.10.7 needs on current Python and pyee; return the module."""
    # python-wechaty logs every received message (text included) at INFO on its own stderr handlers, which
    # is both noise and personal data in our logs; default it to warnings unless the operator chose a level.
    # Its loggers read WECHATY_LOG once, at import time.
    os.environ.setdefault("WECHATY_LOG", "warn")
    # The token is an HTTP/2 header of every call, and hpack logs the headers it encodes at DEBUG.
    logging.getLogger("hpack").setLevel(logging.INFO)
    try:
        import pyee
        import pyee.asyncio

        # wechaty 0.10.7 imports `pyee.AsyncIOEventEmitter`, which current pyee only has in pyee.asyncio.
        pyee.AsyncIOEventEmitter = pyee.asyncio.AsyncIOEventEmitter  # type: ignore[attr-defined]

        import wechaty_puppet.schemas.puppet

        # WechatyOptions uses a PuppetOptions() instance as a dataclass default; Python 3.11 rejects
        # unhashable defaults, and a plain dataclass with eq=True is unhashable.
        wechaty_puppet.schemas.puppet.PuppetOptions.__hash__ = object.__hash__

        import wechaty_puppet_service.puppet

        # The puppet gets the endpoint and token this adapter resolved, never the environment's, so that its
        # constructor, which logs every token it finds next to an endpoint, finds none (see run()).
        wechaty_puppet_service.puppet.get_token = lambda: None
        wechaty_puppet_service.puppet.get_endpoint = lambda: None

        import wechaty
    except ImportError as exc:
        raise WechatyMissing(
            f"the wechaty adapter needs python-wechaty 0.10.7, which could not be imported ({exc}); "
            f"install it in qunbot's source directory with: {INSTALL_COMMAND}"
        ) from exc
    for name in _NOISE:
        noisy = logging.getLogger(name)
        if _not_noise not in noisy.filters:
            noisy.addFilter(_not_noise)
    # The scheduler python-wechaty is given (see run()) logs its start and stop at INFO on every restart.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.WARNING)
    return wechaty


def check_installed() -> None:
    """Raise WechatyMissing (with the install command) unless python-wechaty can be imported."""
    _import_wechaty()


def _connect_failure(exc: OSError) -> str:
    """Why a TCP connection failed, in a few words ("connection refused")."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {_CONNECT_TIMEOUT_S:g} s"
    if isinstance(exc, socket.gaierror) or not exc.errno or exc.errno < 0:
        return (exc.strerror or str(exc) or type(exc).__name__).lower()
    return os.strerror(exc.errno).lower()          # asyncio's text quotes the address we already name


def _host_and_port(endpoint: str) -> tuple[str, int] | None:
    """'host:port' (or '[::1]:port') split, None when it names no port."""
    host, _, port = endpoint.rpartition(":")
    if not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def _free_local_port() -> int:
    """A currently free TCP port on 127.0.0.1.

    python-wechaty's plugin manager checks its port on login and, if something already listens there, raises
    inside the login handler, which silently skips the login event.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def utc_from_timestamp(timestamp: float | None, clock: Clock = _SYSTEM_CLOCK) -> datetime:
    """A wechaty timestamp (seconds or milliseconds) as an aware UTC datetime; now when it is missing."""
    if not timestamp:
        return clock.now()
    if timestamp > _MAX_SECONDS_TIMESTAMP:
        timestamp = timestamp / 1000
    return datetime.fromtimestamp(timestamp, UTC)


def utc_from_date(date: datetime | None, clock: Clock = _SYSTEM_CLOCK) -> datetime:
    """A wechaty event date as an aware UTC datetime.

    python-wechaty builds event dates with `datetime.fromtimestamp(ts)`, i.e. naive local time, which
    `astimezone` interprets as local time. A date at the epoch means the service sent no timestamp.
    """
    if date is None:
        return clock.now()
    aware = date.astimezone(UTC)
    if aware.timestamp() <= 0:
        return clock.now()
    return aware


def message_kind(msg: Any) -> MessageKind | None:
    """The neutral kind of a wechaty Message, None for types the bot does not handle (voice, stickers...)."""
    msg_type = msg.type()
    return _KIND_BY_TYPE_NAME.get(getattr(msg_type, "name", str(msg_type)))


async def display_name(room: Any | None, contact: Any) -> str:
    """The contact's nickname in the room if it set one, else its WeChat name, else its id."""
    if room is not None:
        try:
            alias = await room.alias(contact)
        except Exception:  # a missing room alias must not cost us the event
            log.debug("room alias lookup failed for %s in %s", contact.contact_id, room.room_id, exc_info=True)
            alias = None
        if alias:
            return str(alias)
    return contact.name or contact.contact_id


async def image_bytes(msg: Any) -> bytes | None:
    """An image message's bytes where the puppet service sends them inline (base64 or a stream); None otherwise
    (a box that points at a URL would be fetched with a blocking call: it is left alone)."""
    import base64

    try:
        box = await msg.to_file_box()
    except Exception:
        log.debug("could not read the image of message %s", msg.message_id, exc_info=True)
        return None
    if isinstance(getattr(box, "base64", None), str) and box.base64:
        try:
            return base64.b64decode(box.base64)
        except ValueError:
            return None
    stream = getattr(box, "stream", None)
    return stream if isinstance(stream, bytes) else None


async def translate_message(msg: Any, self_id: str | None, clock: Clock = _SYSTEM_CLOCK, *,
                            read_images: bool = False) -> IncomingMessage | None:
    """Translate a ready wechaty Message; None for the bot's own messages and unsupported types. `read_images`:
    an image's bytes come with it (the anti-spam reads QR codes in them)."""
    if msg.is_self():
        return None
    kind = message_kind(msg)
    if kind is None:
        log.debug("ignoring wechaty message %s of unsupported type %s", msg.message_id, msg.type())
        return None
    talker = msg.talker()
    room = msg.room()
    mention_ids: tuple[str, ...] = ()
    if room is not None:
        mentioned = await msg.mention_list()
        # dict.fromkeys keeps the order of first mention while dropping repeats
        mention_ids = tuple(dict.fromkeys(c.contact_id for c in mentioned if c.contact_id != self_id))
    url: str | None = None
    if kind is MessageKind.LINK:
        try:
            url = (await msg.to_url_link()).url or None
        except Exception:  # a link without a readable payload is still a link message
            log.debug("could not read url link of message %s", msg.message_id, exc_info=True)
    data = await image_bytes(msg) if kind is MessageKind.IMAGE and read_images and room is not None else None
    return IncomingMessage(
        event_id=msg.message_id,
        room_id=room.room_id if room is not None else None,
        sender_id=talker.contact_id,
        sender_name=await display_name(room, talker),
        text=msg.text(),
        sent_at=utc_from_timestamp(getattr(msg.payload, "timestamp", None), clock),
        kind=kind,
        mention_ids=mention_ids,
        url=url,
        data=data,
    )


async def translate_join(room: Any, invitees: Iterable[Any], inviter: Any | None,
                         date: datetime | None, clock: Clock = _SYSTEM_CLOCK) -> list[JoinEvent]:
    """One JoinEvent per invitee of a wechaty room-join event."""
    at = utc_from_date(date, clock)
    inviter_id = (inviter.contact_id or None) if inviter is not None else None
    return [
        JoinEvent(
            event_id=f"join:{room.room_id}:{invitee.contact_id}:{int(at.timestamp())}",
            room_id=room.room_id,
            user_id=invitee.contact_id,
            name=await display_name(room, invitee),
            at=at,
            inviter_id=inviter_id,
        )
        for invitee in invitees
    ]


def translate_leave(room: Any, leavers: Iterable[Any], date: datetime | None,
                    clock: Clock = _SYSTEM_CLOCK) -> list[LeaveEvent]:
    """One LeaveEvent per leaver (left or removed) of a wechaty room-leave event."""
    at = utc_from_date(date, clock)
    return [
        LeaveEvent(
            event_id=f"leave:{room.room_id}:{leaver.contact_id}:{int(at.timestamp())}",
            room_id=room.room_id,
            user_id=leaver.contact_id,
            at=at,
        )
        for leaver in leavers
    ]


async def room_member_list(room: Any, self_id: str | None) -> list[Member]:
    """The room's members other than the bot itself, named as they appear in the room."""
    contacts = [c for c in await room.member_list() if c.contact_id != self_id]
    limit = asyncio.Semaphore(_MEMBER_LOOKUP_CONCURRENCY)

    async def one(contact: Any) -> Member:
        async with limit:
            return Member(user_id=contact.contact_id, name=await display_name(room, contact))

    return list(await asyncio.gather(*(one(c) for c in contacts)))


async def accept_friendship(friendship: Any) -> bool:
    """Accept an incoming friend request so members can talk to the bot in private; True if accepted."""
    if getattr(friendship.type(), "name", "") != "FRIENDSHIP_TYPE_RECEIVE":
        return False
    await friendship.accept()
    return True


def is_transient(exc: BaseException) -> bool:
    """Whether a failed wechaty call may succeed when retried later (the service or link was down)."""
    if isinstance(exc, (ConnectionError, TimeoutError, asyncio.TimeoutError)):
        return True
    if isinstance(exc, OSError) and not isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
        return True
    status = getattr(exc, "status", None)
    if status is not None and type(exc).__name__ == "GRPCError":
        return getattr(status, "name", "") in _TRANSIENT_GRPC_STATUSES
    # grpclib raises these when the HTTP/2 stream or connection drops mid-call
    return type(exc).__name__ in {"StreamTerminatedError", "ProtocolError"}


def _is_unauthenticated(exc: BaseException) -> bool:
    status = getattr(exc, "status", None)
    return type(exc).__name__ == "GRPCError" and getattr(status, "name", "") == "UNAUTHENTICATED"


def _describe(exc: BaseException) -> str:
    """A failed call as logs and send errors show it; the service's UNAUTHENTICATED answer quotes the token."""
    return "GRPCError(UNAUTHENTICATED)" if _is_unauthenticated(exc) else repr(exc)


class WechatyAdapter:
    """The Adapter for WeChat through a Wechaty puppet service (see the module docstring)."""

    name = "wechaty"
    capabilities = frozenset({
        Capability.SEES_ALL_MESSAGES,
        Capability.SEES_JOINS,
        Capability.MEMBER_LIST,
        Capability.CAN_DM,
        Capability.CAN_REMOVE,
        Capability.CAN_SEND_IMAGE,
        Capability.CAN_SEND_FILE,
        Capability.MENTION_IDS,
    })

    def __init__(self, endpoint: str | None, token: str | None, *, port: int = 0, name: str = "qunbot",
                 clock: Clock | None = None, read_images: bool = False) -> None:
        self.read_images = read_images      # images come with their bytes (for the anti-spam's QR codes)
        endpoint = endpoint or os.environ.get(ENDPOINT_ENV) or None
        token = token or os.environ.get(TOKEN_ENV) or None
        if not endpoint:
            raise WechatyConfigError(
                f"the wechaty adapter needs the puppet service endpoint (host:port): set adapter.wechaty.endpoint "
                f"in the config or the {ENDPOINT_ENV} environment variable (without it python-wechaty would ask a "
                "remote discovery host)"
            )
        self._clock = clock or _SYSTEM_CLOCK     # the bot's clock: event times the service leaves out
        self._endpoint: str = endpoint
        self._token: str | None = token
        self._port = port
        self._bot_name = name
        self._bot: Any = None
        self._scheduler: Any = None
        self._self_id: str | None = None
        self._on_event: OnEvent | None = None
        self._queue: asyncio.Queue[_TranslateJob] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stopped.set()

    # -- lifecycle ---------------------------------------------------------------------------------------

    async def run(self, on_event: OnEvent) -> None:
        """Connect and deliver events to `on_event`, one at a time in the order wechaty emits them, until close().

        Raises when the connection fails or the service ends the event stream, so a supervisor can restart
        the adapter with backoff; returns normally only after close().
        """
        wechaty = _import_wechaty()
        from apscheduler.schedulers.asyncio import AsyncIOScheduler  # a wechaty dependency, so import it lazily
        from wechaty_puppet.schemas.puppet import PuppetOptions

        if not self._stopped.is_set():
            raise RuntimeError("WechatyAdapter.run() is already running")
        self._closing.clear()
        self._stopped.clear()
        self._on_event = on_event
        self._queue = asyncio.Queue()
        self._self_id = None

        # An in-memory scheduler: the default one keeps its jobs in a SQLite file under ./.wechaty.
        self._scheduler = AsyncIOScheduler()
        bot: Any = None
        stream: asyncio.Future[Any] | None = None
        try:
            await self._check_reachable()
            if self._closing.is_set():
                return
            bot = wechaty.Wechaty(wechaty.WechatyOptions(
                name=self._bot_name,
                puppet="wechaty-puppet-service",
                puppet_options=PuppetOptions(end_point=self._endpoint),
                host="127.0.0.1",
                port=self._port or _free_local_port(),
                scheduler=self._scheduler,
            ))
            # Only now, once the puppet's constructor has logged what it knows (see the module docstring).
            bot.puppet.options.token = self._token
            await bot.init_puppet()
            # Fresh object pools for this client's classes (see the module docstring).
            for cls in (bot.Contact, bot.ContactSelf, bot.Room, bot.Tag):
                cls._pool = {}
            # The listeners only queue work: pyee would run async listeners as unowned tasks.
            bot.on("login", lambda contact: self._enqueue(lambda: self._login_events(contact)))
            bot.on("logout", self._logout)
            bot.on("message", lambda msg: self._enqueue(lambda: self._message_events(msg)))
            bot.on("room-join", lambda room, invitees, inviter, date: self._enqueue(
                lambda: translate_join(room, invitees, inviter, date, self._clock)))
            bot.on("room-leave", lambda room, leavers, remover, date: self._enqueue(
                lambda: self._leave_events(room, leavers, date)))
            bot.on("friendship", lambda friendship: self._spawn(self._handle_friendship(friendship)))
            # Wechaty re-emits the service's error events as "error", and pyee raises for an "error" event
            # that has no listener.
            bot.on("error", lambda payload: log.warning("wechaty error event: %s", payload))
            await bot.init_puppet_event_bridge(bot.puppet)
            self._bot = bot
            self._spawn(self._deliver())

            log.info("connecting to the wechaty puppet service at %s", self._endpoint)
            # puppet.start() connects (stop + start RPCs) and then consumes the event stream until it ends.
            stream = asyncio.ensure_future(bot.puppet.start())
            closing = asyncio.ensure_future(self._closing.wait())
            try:
                await asyncio.wait({stream, closing}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                closing.cancel()
            if self._closing.is_set():
                return
            try:
                stream.result()  # re-raises a connection failure
            except Exception as exc:
                if type(exc).__name__ == "WechatyPuppetConfigurationError" and "ping endpoint" in str(exc):
                    # It went away between our check and python-wechaty's own.
                    raise ServiceUnreachable(self._unreachable("it does not answer")) from None
                if _is_unauthenticated(exc):
                    # Not chained: the service's answer quotes the token.
                    raise WechatyConfigError(
                        f"the wechaty puppet service at {self._endpoint} refused the token (UNAUTHENTICATED); "
                        f"check adapter.wechaty.token in the config or the {TOKEN_ENV} environment variable"
                    ) from None
                raise
            raise ConnectionError("the wechaty puppet service closed the event stream")
        finally:
            await self._teardown(bot, stream)

    async def _check_reachable(self) -> None:
        """Raise ServiceUnreachable unless the endpoint accepts a TCP connection (python-wechaty's own check
        blocks the event loop and says only "can't not ping endpoint")."""
        address = _host_and_port(self._endpoint)
        if address is None:
            return                      # no port to try: python-wechaty reports what it makes of it
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(*address), _CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise ServiceUnreachable(self._unreachable(_connect_failure(exc))) from None
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass

    def _unreachable(self, reason: str) -> str:
        address = _host_and_port(self._endpoint)
        port = address[1] if address else "PORT"
        return (f"the wechaty puppet service at {self._endpoint} is not reachable ({reason}); start it with "
                f"`qunbot gateway --puppet mock --port {port} --token <token>` (the test world; --puppet wechat4u for "
                f"a real account), or correct adapter.wechaty.endpoint / {ENDPOINT_ENV}")

    async def close(self) -> None:
        """Stop the client; run() returns once it has torn down."""
        self._closing.set()
        try:
            await asyncio.wait_for(self._stopped.wait(), _CLOSE_TIMEOUT_S)
        except TimeoutError:
            log.warning("wechaty client did not stop within %.0f s", _CLOSE_TIMEOUT_S)

    async def _teardown(self, bot: Any | None, stream: asyncio.Future[Any] | None) -> None:
        self._bot = None
        self._self_id = None
        if stream is not None and not stream.done():
            stream.cancel()
            await asyncio.gather(stream, return_exceptions=True)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if bot is not None:
            await self._stop_client(bot)
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None
        self._stopped.set()

    @staticmethod
    async def _stop_client(bot: Any) -> None:
        try:
            puppet = bot.puppet
        except Exception:  # Wechaty.puppet raises once the puppet is gone
            puppet = None
        try:
            await asyncio.wait_for(bot.stop(), _STOP_TIMEOUT_S)
        except Exception as exc:  # the service may be gone; the local side is torn down anyway
            log.debug("stopping the wechaty puppet failed: %s", _describe(exc))
        if puppet is not None:
            # PuppetService.stop() removes every listener, including the "error" one, while wechaty's own
            # listener tasks may still be awaiting the now closed channel; their failures then reach pyee
            # with no "error" handler and surface as asyncio "Exception in callback" errors.
            puppet.on("error", lambda exc: log.debug("wechaty listener failed after stop: %r", exc))

    # -- incoming ----------------------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[None]) -> None:
        """Run work as a task owned by this adapter (cancelled on teardown, failures logged)."""
        task = asyncio.ensure_future(self._guarded(coro))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _guarded(coro: Awaitable[None]) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("wechaty event handling failed")

    def _enqueue(self, job: _TranslateJob) -> None:
        """Queue the translation of one wechaty event (called synchronously from the wechaty listeners)."""
        if self._queue is not None:
            self._queue.put_nowait(job)

    async def _deliver(self) -> None:
        """Translate queued wechaty events and hand the results to on_event, one at a time.

        Translation runs here rather than in the listeners so the bot sees events in the order wechaty
        emitted them: translating concurrently let a quick event (a leave) overtake a slower one (a message
        whose mentions need look-ups).
        """
        assert self._queue is not None and self._on_event is not None
        while True:
            job = await self._queue.get()
            try:
                events = await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("translating a wechaty event failed")
                continue
            for event in events:
                try:
                    await self._on_event(event)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("on_event failed for %s", event.event_id)

    async def _login_events(self, contact: Any) -> list[IncomingEvent]:
        """Record who the bot is and list the members of every room it is in."""
        self._self_id = contact.contact_id
        log.info("wechaty logged in as %s (%s)", contact.name, contact.contact_id)
        bot = self._bot
        if bot is None:
            return []
        events: list[IncomingEvent] = []
        for room_id in await bot.puppet.room_list():
            try:
                members = await room_member_list(bot.Room.load(room_id), self._self_id)
            except Exception:
                log.exception("could not list the members of room %s", room_id)
                continue
            at = self._clock.now()
            events.append(MembersEvent(
                event_id=f"members:{room_id}:{int(at.timestamp())}",
                room_id=room_id,
                members=tuple(members),
                at=at,
            ))
        return events

    def _logout(self, contact: Any) -> None:
        log.warning("wechaty logged out (%s)", contact.contact_id)
        self._self_id = None

    async def _message_events(self, msg: Any) -> list[IncomingEvent]:
        event = await translate_message(msg, self._self_id, self._clock, read_images=self.read_images)
        return [event] if event is not None else []

    async def _leave_events(self, room: Any, leavers: list[Any], date: datetime) -> list[IncomingEvent]:
        return list(translate_leave(room, leavers, date, self._clock))

    @staticmethod
    async def _handle_friendship(friendship: Any) -> None:
        if await accept_friendship(friendship):
            log.info("accepted a friend request from %s", friendship.contact().contact_id)

    # -- outgoing ----------------------------------------------------------------------------------------

    def _logged_in_bot(self) -> Any:
        if self._bot is None or self._self_id is None:
            raise SendError("the wechaty client is not connected and logged in", transient=True)
        return self._bot

    async def _resolve(self, what: str, loader: Callable[[], Awaitable[Any]]) -> Any:
        """Load a room or contact; a failure that is not a connection problem means it does not exist."""
        try:
            return await loader()
        except SendError:
            raise
        except Exception as exc:
            if is_transient(exc):
                raise SendError(f"could not load {what}: {_describe(exc)}", transient=True) from exc
            raise SendError(f"unknown {what}: {_describe(exc)}", transient=False) from exc

    async def _load_room(self, bot: Any, room_id: str) -> Any:
        async def load() -> Any:
            room = bot.Room.load(room_id)
            await room.ready()
            if not getattr(room.payload, "id", room_id):
                raise SendError(f"unknown room {room_id}", transient=False)
            return room
        return await self._resolve(f"room {room_id}", load)

    async def _load_contact(self, bot: Any, user_id: str) -> Any:
        async def load() -> Any:
            contact = bot.Contact.load(user_id)
            await contact.ready()
            if not getattr(contact.payload, "id", user_id):
                raise SendError(f"unknown contact {user_id}", transient=False)
            return contact
        return await self._resolve(f"contact {user_id}", load)

    @staticmethod
    async def _call(what: str, call: Awaitable[Any]) -> None:
        try:
            await call
        except SendError:
            raise
        except Exception as exc:
            raise SendError(f"{what} failed: {_describe(exc)}", transient=is_transient(exc)) from exc

    async def send(self, out: Outgoing) -> None:
        bot = self._logged_in_bot()
        if out.kind not in ("say", "image", "file", "remove"):
            raise SendError(f"unsupported outgoing kind {out.kind!r}", transient=False)

        if out.kind == "remove":
            if out.chat.room_id is None or not out.target:
                raise SendError("remove needs a room and a target user", transient=False)
            room = await self._load_room(bot, out.chat.room_id)
            contact = await self._load_contact(bot, out.target)
            await self._call(f"removing {out.target} from {out.chat.room_id}", room.delete(contact))
            return

        if out.chat.room_id is not None:
            conversation = await self._load_room(bot, out.chat.room_id)
        elif out.chat.user_id:
            conversation = await self._load_contact(bot, out.chat.user_id)
        else:
            raise SendError("outgoing message names neither a room nor a user", transient=False)

        if out.kind in ("image", "file"):
            if not out.path:
                raise SendError(f"{out.kind} message without a path", transient=False)
            try:
                file_box = _file_box(out.path)
            except (OSError, ValueError) as exc:
                raise SendError(f"cannot read {out.kind} {out.path}: {exc}", transient=False) from exc
            await self._call(f"sending {out.kind} to {out.chat.key}", conversation.say(file_box))
            if not out.text:
                return
        elif not out.text:
            raise SendError("empty text message", transient=False)

        if out.chat.room_id is not None:
            # Room.say(text, mention_ids) builds "@<contact name>" for every id itself and prepends it
            # ("@A\u2005@B " + text, wechaty/user/room.py), but our text already carries each "@name"
            # (the group nickname the reader knows), so Room.say would double every mention. Sending
            # through the puppet keeps our text as is and still passes the ids that make WeChat notify.
            await self._call(
                f"sending text to {out.chat.key}",
                bot.puppet.message_send_text(
                    conversation_id=out.chat.room_id, message=out.text, mention_ids=list(out.mention_ids)
                ),
            )
        else:
            await self._call(f"sending text to {out.chat.key}", conversation.say(out.text))

    async def room_members(self, room_id: str) -> Sequence[Member]:
        """The room's current members other than the bot itself."""
        bot = self._bot
        if bot is None:
            raise ConnectionError("the wechaty client is not running")
        return await room_member_list(bot.Room.load(room_id), self._self_id)


def _file_box(path: str) -> Any:
    """A wechaty FileBox for a local file (raises FileNotFoundError for a missing one)."""
    return _import_wechaty().FileBox.from_file(path)
