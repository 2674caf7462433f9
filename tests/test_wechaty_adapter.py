"""Unit tests for the wechaty adapter, with fakes shaped like python-wechaty's Message/Room/Contact.

None of these need wechaty installed or a network; the real protocol is exercised separately against a
Node puppet service.
"""
from __future__ import annotations

import asyncio
import enum
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot.adapters import wechaty as wx
from bot.adapters.base import (
    Capability,
    ChatRef,
    IncomingMessage,
    JoinEvent,
    LeaveEvent,
    Member,
    MessageKind,
    Outgoing,
    SendError,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
BOT_ID = "wxid_bot"
ROOM_ID = "r1@chatroom"


class FakeMessageType(enum.IntEnum):
    """Mirrors the member names of wechaty_grpc's MessageType, which is all the adapter looks at."""

    MESSAGE_TYPE_ATTACHMENT = 1
    MESSAGE_TYPE_AUDIO = 2
    MESSAGE_TYPE_CONTACT = 3
    MESSAGE_TYPE_IMAGE = 5
    MESSAGE_TYPE_TEXT = 6
    MESSAGE_TYPE_MINI_PROGRAM = 10
    MESSAGE_TYPE_URL = 14


class FakeFriendshipType(enum.IntEnum):
    FRIENDSHIP_TYPE_CONFIRM = 1
    FRIENDSHIP_TYPE_RECEIVE = 2


@dataclass
class FakeContact:
    contact_id: str
    name: str = ""
    payload: Any = None
    said: list[Any] = field(default_factory=list)
    fail_ready: Exception | None = None

    def __post_init__(self) -> None:
        self.payload = SimpleNamespace(id=self.contact_id, name=self.name)

    async def ready(self) -> None:
        if self.fail_ready is not None:
            raise self.fail_ready

    async def say(self, something: Any) -> None:
        self.said.append(something)


@dataclass
class FakeRoom:
    room_id: str
    members: list[FakeContact] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    said: list[Any] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    payload: Any = None
    fail_ready: Exception | None = None

    async def ready(self) -> None:
        if self.fail_ready is not None:
            raise self.fail_ready
        self.payload = SimpleNamespace(id=self.room_id)

    async def alias(self, contact: FakeContact) -> str | None:
        # the service answers "" for members without a group nickname
        return self.aliases.get(contact.contact_id, "")

    async def member_list(self) -> list[FakeContact]:
        return list(self.members)

    async def say(self, something: Any) -> None:
        self.said.append(something)

    async def delete(self, contact: FakeContact) -> None:
        self.deleted.append(contact.contact_id)


@dataclass
class FakeUrlLink:
    url: str


@dataclass
class FakeMessage:
    message_id: str
    talker_contact: FakeContact
    text_value: str = ""
    room_obj: FakeRoom | None = None
    msg_type: Any = FakeMessageType.MESSAGE_TYPE_TEXT
    mentions: list[FakeContact] = field(default_factory=list)
    timestamp: int = 1_700_000_000_000
    from_self: bool = False
    link: str | None = None
    mention_list_calls: int = 0
    image: bytes | None = None

    @property
    def payload(self) -> Any:
        return SimpleNamespace(timestamp=self.timestamp)

    def is_self(self) -> bool:
        return self.from_self

    async def to_file_box(self) -> Any:
        import base64

        return SimpleNamespace(base64=base64.b64encode(self.image or b"").decode(), stream=None)

    def type(self) -> Any:
        return self.msg_type

    def talker(self) -> FakeContact:
        return self.talker_contact

    def room(self) -> FakeRoom | None:
        return self.room_obj

    def text(self) -> str:
        return self.text_value

    async def mention_list(self) -> list[FakeContact]:
        self.mention_list_calls += 1
        return list(self.mentions)

    async def to_url_link(self) -> FakeUrlLink:
        if self.link is None:
            raise ValueError("no url payload")
        return FakeUrlLink(self.link)


@dataclass
class FakeFriendship:
    kind: FakeFriendshipType
    accepted: bool = False

    def type(self) -> FakeFriendshipType:
        return self.kind

    async def accept(self) -> None:
        self.accepted = True

    def contact(self) -> FakeContact:
        return FakeContact("wxid_new")


class Status(enum.Enum):
    UNAVAILABLE = 14
    NOT_FOUND = 5


class GRPCError(Exception):
    """Shaped like grpclib.exceptions.GRPCError: the adapter looks at the class name and `.status`."""

    def __init__(self, status: Status) -> None:
        super().__init__(status.name)
        self.status = status


# -- translation ---------------------------------------------------------------------------------------


@pytest.fixture
def people() -> dict[str, FakeContact]:
    return {
        "alice": FakeContact("wxid_alice", "Alice"),
        "bob": FakeContact("wxid_bob", "Bob"),
        "bot": FakeContact(BOT_ID, "Bot"),
    }


async def test_room_text_message_uses_room_alias_and_drops_bot_mention(people: dict[str, FakeContact]) -> None:
    room = FakeRoom(ROOM_ID, aliases={"wxid_alice": "小爱"})
    msg = FakeMessage(
        "m1", people["alice"], "@Bot /thanks @Bob", room,
        mentions=[people["bot"], people["bob"], people["bob"]],
    )

    event = await wx.translate_message(msg, BOT_ID)

    assert event == IncomingMessage(
        event_id="m1",
        room_id=ROOM_ID,
        sender_id="wxid_alice",
        sender_name="小爱",
        text="@Bot /thanks @Bob",
        sent_at=datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        kind=MessageKind.TEXT,
        mention_ids=("wxid_bob",),
    )
    assert event.sent_at.tzinfo is not None


async def test_sender_without_room_alias_gets_contact_name(people: dict[str, FakeContact]) -> None:
    msg = FakeMessage("m2", people["bob"], "hi", FakeRoom(ROOM_ID), timestamp=1_700_000_000)

    event = await wx.translate_message(msg, BOT_ID)

    assert event is not None
    assert event.sender_name == "Bob"
    assert event.sent_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


async def test_alias_lookup_failure_falls_back_to_contact_name(people: dict[str, FakeContact]) -> None:
    class BrokenAliasRoom(FakeRoom):
        async def alias(self, contact: FakeContact) -> str | None:
            raise ConnectionError("service hiccup")

    event = await wx.translate_message(FakeMessage("m3", people["bob"], "hi", BrokenAliasRoom(ROOM_ID)), BOT_ID)

    assert event is not None and event.sender_name == "Bob"


async def test_private_message_has_no_room_and_no_mentions(people: dict[str, FakeContact]) -> None:
    msg = FakeMessage("m4", people["alice"], "/signup", None)

    event = await wx.translate_message(msg, BOT_ID)

    assert event is not None
    assert event.room_id is None
    assert event.sender_name == "Alice"
    assert event.mention_ids == ()
    assert msg.mention_list_calls == 0


async def test_own_messages_are_dropped(people: dict[str, FakeContact]) -> None:
    msg = FakeMessage("m5", people["bot"], "reply", FakeRoom(ROOM_ID), from_self=True)

    assert await wx.translate_message(msg, BOT_ID) is None


async def test_unsupported_message_type_is_ignored(people: dict[str, FakeContact]) -> None:
    msg = FakeMessage("m6", people["alice"], "", FakeRoom(ROOM_ID), msg_type=FakeMessageType.MESSAGE_TYPE_AUDIO)

    assert await wx.translate_message(msg, BOT_ID) is None


@pytest.mark.parametrize(
    ("msg_type", "kind"),
    [
        (FakeMessageType.MESSAGE_TYPE_IMAGE, MessageKind.IMAGE),
        (FakeMessageType.MESSAGE_TYPE_ATTACHMENT, MessageKind.FILE),
        (FakeMessageType.MESSAGE_TYPE_MINI_PROGRAM, MessageKind.MINI_PROGRAM),
        (FakeMessageType.MESSAGE_TYPE_CONTACT, MessageKind.CONTACT_CARD),
        (FakeMessageType.MESSAGE_TYPE_TEXT, MessageKind.TEXT),
    ],
)
async def test_message_kinds(people: dict[str, FakeContact], msg_type: FakeMessageType, kind: MessageKind) -> None:
    event = await wx.translate_message(FakeMessage("m7", people["alice"], "", FakeRoom(ROOM_ID), msg_type), BOT_ID)

    assert event is not None and event.kind is kind and event.url is None


async def test_image_bytes_come_along_only_when_asked_for(people: dict[str, FakeContact]) -> None:
    msg = FakeMessage("m9", people["alice"], "", FakeRoom(ROOM_ID), FakeMessageType.MESSAGE_TYPE_IMAGE,
                      image=b"\x89PNG...")

    plain = await wx.translate_message(msg, BOT_ID)
    read = await wx.translate_message(msg, BOT_ID, read_images=True)

    assert plain is not None and plain.data is None
    assert read is not None and read.data == b"\x89PNG..."


async def test_link_message_carries_url(people: dict[str, FakeContact]) -> None:
    msg = FakeMessage("m8", people["alice"], "Great article", FakeRoom(ROOM_ID),
                      FakeMessageType.MESSAGE_TYPE_URL, link="https://example.com/a")

    event = await wx.translate_message(msg, BOT_ID)

    assert event is not None
    assert event.kind is MessageKind.LINK
    assert event.url == "https://example.com/a"


async def test_link_without_readable_payload_is_still_a_link(people: dict[str, FakeContact]) -> None:
    msg = FakeMessage("m9", people["alice"], "x", FakeRoom(ROOM_ID), FakeMessageType.MESSAGE_TYPE_URL)

    event = await wx.translate_message(msg, BOT_ID)

    assert event is not None and event.kind is MessageKind.LINK and event.url is None


async def test_join_gives_one_event_per_invitee_with_deterministic_ids(people: dict[str, FakeContact]) -> None:
    room = FakeRoom(ROOM_ID, aliases={"wxid_bob": "Bobby"})
    # python-wechaty passes naive local datetimes built with datetime.fromtimestamp
    date = datetime.fromtimestamp(1_700_000_000)

    events = await wx.translate_join(room, [people["alice"], people["bob"]], people["bot"], date)

    at = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert events == [
        JoinEvent(f"join:{ROOM_ID}:wxid_alice:1700000000", ROOM_ID, "wxid_alice", "Alice", at, BOT_ID),
        JoinEvent(f"join:{ROOM_ID}:wxid_bob:1700000000", ROOM_ID, "wxid_bob", "Bobby", at, BOT_ID),
    ]
    assert events == await wx.translate_join(room, [people["alice"], people["bob"]], people["bot"], date)


async def test_join_without_inviter_id(people: dict[str, FakeContact]) -> None:
    events = await wx.translate_join(FakeRoom(ROOM_ID), [people["alice"]], FakeContact(""),
                                     datetime.fromtimestamp(1_700_000_000))

    assert events[0].inviter_id is None


def test_leave_gives_one_event_per_leaver(people: dict[str, FakeContact]) -> None:
    events = wx.translate_leave(FakeRoom(ROOM_ID), [people["alice"]], datetime.fromtimestamp(1_700_000_000))

    assert events == [LeaveEvent(f"leave:{ROOM_ID}:wxid_alice:1700000000", ROOM_ID, "wxid_alice",
                                 datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC))]


async def test_room_member_list_excludes_the_bot_and_uses_room_names(people: dict[str, FakeContact]) -> None:
    room = FakeRoom(ROOM_ID, members=[people["bot"], people["alice"], people["bob"]], aliases={"wxid_bob": "Bobby"})

    members = await wx.room_member_list(room, BOT_ID)

    assert members == [Member("wxid_alice", "Alice"), Member("wxid_bob", "Bobby")]


async def test_incoming_friend_requests_are_accepted() -> None:
    incoming = FakeFriendship(FakeFriendshipType.FRIENDSHIP_TYPE_RECEIVE)
    confirmed = FakeFriendship(FakeFriendshipType.FRIENDSHIP_TYPE_CONFIRM)

    assert await wx.accept_friendship(incoming) is True and incoming.accepted
    assert await wx.accept_friendship(confirmed) is False and not confirmed.accepted


def test_timestamps_in_seconds_or_milliseconds() -> None:
    expected = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert wx.utc_from_timestamp(1_700_000_000) == expected
    assert wx.utc_from_timestamp(1_700_000_000_000) == expected
    missing = wx.utc_from_timestamp(0)
    assert missing.tzinfo is not None and abs((datetime.now(UTC) - missing).total_seconds()) < 5


def test_epoch_event_date_means_now() -> None:
    at = wx.utc_from_date(datetime.fromtimestamp(0))
    assert abs((datetime.now(UTC) - at).total_seconds()) < 5


def test_transient_errors() -> None:
    assert wx.is_transient(ConnectionRefusedError())
    assert wx.is_transient(TimeoutError())
    assert wx.is_transient(GRPCError(Status.UNAVAILABLE))
    assert not wx.is_transient(GRPCError(Status.NOT_FOUND))
    assert not wx.is_transient(FileNotFoundError("x.png"))
    assert not wx.is_transient(ValueError("bad payload"))


# -- configuration and import --------------------------------------------------------------------------


def test_missing_endpoint_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(wx.ENDPOINT_ENV, raising=False)

    with pytest.raises(wx.WechatyConfigError) as excinfo:
        wx.WechatyAdapter(None, "token")

    assert isinstance(excinfo.value, ValueError)
    assert "adapter.wechaty.endpoint" in str(excinfo.value)
    assert wx.ENDPOINT_ENV in str(excinfo.value)


def test_endpoint_and_token_fall_back_to_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(wx.ENDPOINT_ENV, "127.0.0.1:8788")
    monkeypatch.setenv(wx.TOKEN_ENV, "secret")

    adapter = wx.WechatyAdapter(None, None)

    assert adapter._endpoint == "127.0.0.1:8788"
    assert adapter._token == "secret"
    assert adapter.name == "wechaty"
    assert adapter.capabilities == frozenset(Capability)


def test_importing_the_adapter_does_not_import_wechaty() -> None:
    code = (
        "import sys, bot.adapters.wechaty; "
        "loaded = [m for m in ('wechaty', 'wechaty_puppet', 'wechaty_puppet_service') if m in sys.modules]; "
        "print(','.join(loaded))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)

    assert result.stdout.strip() == ""


async def test_run_without_wechaty_explains_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "wechaty", None)  # makes `import wechaty` fail like a missing package
    monkeypatch.setenv("WECHATY_LOG", "warn")
    adapter = wx.WechatyAdapter("127.0.0.1:1", "token")

    async def on_event(event: Any) -> None:
        raise AssertionError("no event expected")

    with pytest.raises(wx.WechatyMissing, match=r"pip install -e '\.\[wechaty\]'"):
        await adapter.run(on_event)


# -- sending -------------------------------------------------------------------------------------------


class FakePuppet:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, list[str]]] = []
        self.fail_with: Exception | None = None

    async def message_send_text(self, conversation_id: str, message: str, mention_ids: list[str]) -> str:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append((conversation_id, message, mention_ids))
        return "sent-1"


class FakeBot:
    """Shaped like a started Wechaty: bot.Room.load / bot.Contact.load and bot.puppet."""

    def __init__(self, rooms: dict[str, FakeRoom], contacts: dict[str, FakeContact]) -> None:
        self.puppet = FakePuppet()
        self.Room = SimpleNamespace(load=lambda room_id: rooms.setdefault(
            room_id, FakeRoom(room_id, fail_ready=ValueError(f"room {room_id} not found"))))
        self.Contact = SimpleNamespace(load=lambda user_id: contacts.setdefault(
            user_id, FakeContact(user_id, fail_ready=ValueError(f"contact {user_id} not found"))))


World = tuple[wx.WechatyAdapter, FakeBot, FakeRoom]


@pytest.fixture
def world(people: dict[str, FakeContact]) -> World:
    room = FakeRoom(ROOM_ID, members=[people["alice"], people["bob"], people["bot"]])
    bot = FakeBot({ROOM_ID: room}, {c.contact_id: c for c in people.values()})
    adapter = wx.WechatyAdapter("127.0.0.1:1", "token")
    adapter._bot = bot
    adapter._self_id = BOT_ID
    return adapter, bot, room


async def test_send_before_login_is_transient() -> None:
    adapter = wx.WechatyAdapter("127.0.0.1:1", "token")

    with pytest.raises(SendError) as excinfo:
        await adapter.send(Outgoing(ChatRef(room_id=ROOM_ID), "hi"))

    assert excinfo.value.transient


async def test_room_text_keeps_our_mention_text_and_passes_ids(world: World) -> None:
    adapter, bot, room = world

    await adapter.send(Outgoing(ChatRef(room_id=ROOM_ID), "@小爱 thanks!", mention_ids=("wxid_alice",)))

    assert bot.puppet.sent == [(ROOM_ID, "@小爱 thanks!", ["wxid_alice"])]
    assert room.said == []


async def test_private_text_goes_to_the_contact(world: World,
                                                 people: dict[str, FakeContact]) -> None:
    adapter, _, _ = world

    await adapter.send(Outgoing(ChatRef(user_id="wxid_alice"), "welcome"))

    assert people["alice"].said == ["welcome"]


async def test_image_then_caption(world: World,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    adapter, bot, room = world
    monkeypatch.setattr(wx, "_file_box", lambda path: ("filebox", path))

    await adapter.send(Outgoing(ChatRef(room_id=ROOM_ID), "weekly ranking", kind="image", path="/tmp/rank.png"))

    assert room.said == [("filebox", "/tmp/rank.png")]
    assert bot.puppet.sent == [(ROOM_ID, "weekly ranking", [])]


async def test_a_file_goes_to_a_contact_then_its_caption(world: World, people: dict[str, FakeContact],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    adapter, _, _ = world
    monkeypatch.setattr(wx, "_file_box", lambda path: ("filebox", path))

    await adapter.send(Outgoing(ChatRef(user_id="wxid_alice"), "ledger.csv", kind="file", path="/srv/x/ledger.csv"))

    assert people["alice"].said == [("filebox", "/srv/x/ledger.csv"), "ledger.csv"]
async def test_a_private_image_goes_to_the_contact_with_its_caption(world: World, people: dict[str, FakeContact],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The owners' report chart, in private."""
    adapter, _, _ = world
    monkeypatch.setattr(wx, "_file_box", lambda path: ("filebox", path))

    await adapter.send(Outgoing(ChatRef(user_id="wxid_alice"), "📈 最近 12 周趋势", kind="image",
                                path="charts/growth.png"))

    assert people["alice"].said == [("filebox", "charts/growth.png"), "📈 最近 12 周趋势"]


async def test_missing_image_file_is_not_transient(world: World,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    adapter, _, _ = world

    def missing(path: str) -> Any:
        raise FileNotFoundError(path)

    monkeypatch.setattr(wx, "_file_box", missing)

    with pytest.raises(SendError) as excinfo:
        await adapter.send(Outgoing(ChatRef(room_id=ROOM_ID), "", kind="image", path="/nope.png"))

    assert not excinfo.value.transient


async def test_remove_deletes_the_member(world: World) -> None:
    adapter, _, room = world

    await adapter.send(Outgoing(ChatRef(room_id=ROOM_ID), "", kind="remove", target="wxid_bob"))

    assert room.deleted == ["wxid_bob"]


async def test_unknown_room_or_contact_is_not_transient(world: World) -> None:
    adapter, _, _ = world

    with pytest.raises(SendError) as room_error:
        await adapter.send(Outgoing(ChatRef(room_id="nope@chatroom"), "hi"))
    with pytest.raises(SendError) as contact_error:
        await adapter.send(Outgoing(ChatRef(user_id="wxid_nobody"), "hi"))

    assert not room_error.value.transient
    assert not contact_error.value.transient


async def test_connection_failure_while_sending_is_transient(world: World) -> None:
    adapter, bot, _ = world
    bot.puppet.fail_with = GRPCError(Status.UNAVAILABLE)

    with pytest.raises(SendError) as excinfo:
        await adapter.send(Outgoing(ChatRef(room_id=ROOM_ID), "hi"))

    assert excinfo.value.transient


async def test_room_members_uses_the_running_client(world: World) -> None:
    adapter, _, _ = world

    assert await adapter.room_members(ROOM_ID) == [Member("wxid_alice", "Alice"), Member("wxid_bob", "Bob")]


# -- delivery ------------------------------------------------------------------------------------------


async def test_events_are_delivered_in_order_and_failures_do_not_stop_delivery(
        people: dict[str, FakeContact]) -> None:
    adapter = wx.WechatyAdapter("127.0.0.1:1", "token")
    seen: list[str] = []

    async def on_event(event: Any) -> None:
        seen.append(event.event_id)
        if event.event_id == "m1":
            raise RuntimeError("handler bug")

    async def broken_translation() -> list[Any]:
        raise ValueError("payload missing")

    class SlowAliasRoom(FakeRoom):
        async def alias(self, contact: FakeContact) -> str | None:
            await asyncio.sleep(0.01)
            return None

    adapter._on_event = on_event
    adapter._queue = asyncio.Queue()
    adapter._self_id = BOT_ID
    adapter._spawn(adapter._deliver())
    # a slow message first, then a quick leave: the leave must not overtake it
    adapter._enqueue(lambda: adapter._message_events(
        FakeMessage("m1", people["alice"], "hi", SlowAliasRoom(ROOM_ID))))
    adapter._enqueue(broken_translation)
    adapter._enqueue(lambda: adapter._leave_events(FakeRoom(ROOM_ID), [people["bob"]],
                                                   datetime.fromtimestamp(1_700_000_000)))
    adapter._enqueue(lambda: adapter._message_events(FakeMessage("m2", people["alice"], "hi", FakeRoom(ROOM_ID))))
    for _ in range(100):
        if len(seen) == 3:
            break
        await asyncio.sleep(0.005)

    assert seen == ["m1", f"leave:{ROOM_ID}:wxid_bob:1700000000", "m2"]
    for task in list(adapter._tasks):
        task.cancel()
    await asyncio.gather(*adapter._tasks, return_exceptions=True)


def test_a_missing_event_time_is_the_bots_clock() -> None:
    from bot.clock import FakeClock

    clock = FakeClock(datetime(2026, 11, 23, 1, 0, tzinfo=UTC))
    assert wx.utc_from_timestamp(0, clock) == clock.now()
    assert wx.utc_from_date(datetime.fromtimestamp(0), clock) == clock.now()
    adapter = wx.WechatyAdapter("127.0.0.1:1", "token", clock=clock)
    assert adapter._clock is clock
