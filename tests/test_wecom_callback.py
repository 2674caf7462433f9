"""WeCom AI bot in callback-URL mode: signed, encrypted callbacks in; passive replies, response_url and group
webhooks out. A local server stands in for WeCom's response_url and webhook endpoints."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import ValidationError

from bot.adapters.base import AdapterStopped, ChatRef, IncomingMessage, Outgoing, SendError, Unconfirmed
from bot.adapters.wecom_callback import WecomCallbackAdapter
from bot.adapters.wecom_crypto import WecomCrypto
from bot.clock import FakeClock
from bot.config import WecomCallbackConfig
from tests.conftest import START

# The Token and EncodingAESKey of WeCom's official samples (sbzhu/weworkapi_php callback/Sample.php); an AI bot's
# receive id is "", so the requests below are signed and encrypted here, with that key.
TOKEN = "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
PATH = "/wecom/callback"
GROUP = "wrGROUP1"          # a group whose robot webhook key is configured
BARE = "wrGROUP2"           # a group without one
KEY = "k-group-1"
T = TypeVar("T")


class FakeWecomHttp:
    """WeCom's response_url and group webhook endpoints, recording what they were sent."""

    def __init__(self) -> None:
        self.webhook: list[tuple[str, dict[str, Any]]] = []       # (key, body)
        self.responses: list[tuple[str, dict[str, Any]]] = []     # (response_code, body)
        self.answers: dict[str, Any] = {}                        # webhook key -> errcode, or an HTTP status
        self.response_failures = 0                               # answer the next n response_url posts with 502
        self.base = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/cgi-bin/webhook/send", self._webhook)
        app.router.add_post("/cgi-bin/aibot/response", self._response)
        return app

    @property
    def webhook_url(self) -> str:
        return f"{self.base}/cgi-bin/webhook/send"

    def response_url(self, code: str) -> str:
        return f"{self.base}/cgi-bin/aibot/response?response_code={code}"

    async def _webhook(self, request: web.Request) -> web.Response:
        assert request.content_type == "application/json"
        key, body = request.query["key"], await request.json()
        answer = self.answers.get(key, 0)
        if isinstance(answer, str):                 # "http 500"
            return web.Response(status=int(answer.split()[1]))
        if body.get("msgtype") == "image":          # what WeCom checks: md5 of the raw bytes behind the base64
            raw = base64.b64decode(body["image"]["base64"], validate=True)
            if hashlib.md5(raw).hexdigest() != body["image"]["md5"]:
                return web.json_response({"errcode": 40001, "errmsg": "md5 mismatch"})
        if answer == 0:
            self.webhook.append((key, body))
        return web.json_response({"errcode": answer, "errmsg": "ok" if answer == 0 else "refused"})

    async def _response(self, request: web.Request) -> web.Response:
        assert request.content_type == "application/json"
        code, body = request.query["response_code"], await request.json()
        if self.response_failures:
            self.response_failures -= 1
            return web.Response(status=502)
        if any(c == code for c, _ in self.responses):
            # Not documented: a used response_url is refused with some errcode (this value is made up).
            return web.json_response({"errcode": 60001, "errmsg": "response_code used"})
        self.responses.append((code, body))
        return web.json_response({"errcode": 0, "errmsg": "ok"})


class FakeApp:
    """Stands in for App.handle: records events; answers those in `answer_now` at once (the app dedupes ids), and
    returns `verdict` (True: a reply is queued, False: the bot will not answer, None: cannot tell) or raises it."""

    def __init__(self) -> None:
        self.adapter: WecomCallbackAdapter | None = None
        self.events: list[IncomingMessage] = []
        self.answer_now: dict[str, str] = {}
        self.verdict: bool | None | Exception = None
        self.returned = asyncio.Event()

    async def __call__(self, event: IncomingMessage) -> bool | None:
        first = all(e.event_id != event.event_id for e in self.events)
        self.events.append(event)
        if first and event.text in self.answer_now:
            await self.adapter.send(reply_to(event, self.answer_now[event.text]))
        self.returned.set()
        if isinstance(self.verdict, Exception):
            raise self.verdict
        return self.verdict


def reply_to(event: IncomingMessage, text: str) -> Outgoing:
    chat = ChatRef(room_id=event.room_id) if event.room_id else ChatRef(user_id=event.sender_id)
    return Outgoing(chat, text, reply_to={"event_id": event.event_id, "token": event.reply_token})


def message(msgid: str, text: str, *, response_url: str, chat: str | None = GROUP, user: str = "zhangsan",
            msgtype: str = "text") -> dict[str, Any]:
    """A decrypted callback body as WeCom documents it (接收消息, path/100719)."""
    body: dict[str, Any] = {"msgid": msgid, "aibotid": "AIBOTID", "chattype": "group" if chat else "single",
                            "from": {"userid": user}, "response_url": response_url, "msgtype": msgtype}
    if chat:
        body["chatid"] = chat
    if msgtype == "text":
        body["text"] = {"content": f"@qunbot {text}" if chat else text}
    return body


class Wecom:
    """WeCom's side of the callback: signs and encrypts requests to the adapter's endpoint, timestamped by `now`."""

    def __init__(self, client: TestClient, crypto: WecomCrypto, now: Callable[[], datetime]) -> None:
        self.client = client
        self.crypto = crypto
        self.now = now
        self._nonce = 0

    def timestamp(self, seconds_ago: float = 0) -> str:
        return str(int(self.now().timestamp() - seconds_ago))

    async def verify_url(self, plain: str, *, timestamp: str | None = None, signature: str | None = None):
        """WeCom's URL check with an echostr that decrypts to `plain`."""
        timestamp = timestamp or self.timestamp()
        echostr = self.crypto.encrypt(plain)
        return await self.client.get(PATH, params={
            "msg_signature": signature or self.crypto.signature(timestamp, "263014780", echostr),
            "timestamp": timestamp, "nonce": "263014780", "echostr": echostr})

    async def post(self, body: dict[str, Any] | str, *, signature: str | None = None, raw: bytes | None = None,
                   crypto: WecomCrypto | None = None, timestamp: str | None = None):
        self._nonce += 1
        nonce, timestamp = f"nonce{self._nonce}", timestamp or self.timestamp()
        plain = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        encrypted = (crypto or self.crypto).encrypt(plain)
        params = {"msg_signature": signature or self.crypto.signature(timestamp, nonce, encrypted),
                  "timestamp": timestamp, "nonce": nonce}
        data = raw if raw is not None else json.dumps({"encrypt": encrypted}).encode()
        resp = await self.client.post(PATH, params=params, data=data, headers={"Content-Type": "application/json"})
        resp.nonce = nonce                                      # type: ignore[attr-defined]
        return resp

    def open(self, envelope: dict[str, Any], nonce: str) -> dict[str, Any]:
        """A passive reply, checked and decrypted as WeCom would."""
        assert envelope["nonce"] == nonce
        self.crypto.verify(envelope["msgsignature"], envelope["timestamp"], nonce, envelope["encrypt"])
        return json.loads(self.crypto.decrypt(envelope["encrypt"]))


@pytest.fixture
async def fake():
    fake = FakeWecomHttp()
    server = TestServer(fake.app())
    await server.start_server()
    fake.base = str(server.make_url("")).rstrip("/")
    yield fake
    await server.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def bot(fake, clock):
    """(adapter, FakeApp, Wecom) with the adapter's endpoint served on a loopback test server."""
    config = WecomCallbackConfig(token=TOKEN, encoding_aes_key=AES_KEY, passive_reply_seconds=3)
    adapter = WecomCallbackAdapter(config, webhook_keys={GROUP: KEY}, webhook_url=fake.webhook_url,
                                   clock=clock.now)
    app = FakeApp()
    app.adapter = adapter
    client = TestClient(TestServer(adapter.web_app(app)))
    await client.start_server()
    yield adapter, app, Wecom(client, WecomCrypto(TOKEN, AES_KEY), clock.now)
    await client.close()
    await adapter.close()


def quick(adapter: WecomCallbackAdapter) -> None:
    """Stop waiting for passive replies almost at once: the test wants the response_url path."""
    adapter.passive_reply_seconds = 0.05


# ---- URL verification ------------------------------------------------------------------------------------

async def test_url_verification_answers_the_plain_echostr(bot):
    _, _, wecom = bot
    resp = await wecom.verify_url("1616140317555161061")
    assert resp.status == 200
    assert await resp.read() == b"1616140317555161061"


async def test_url_verification_survives_an_unencoded_plus(bot):
    _, _, wecom = bot
    echostr = next(e for e in (wecom.crypto.encrypt("42") for _ in range(200)) if "+" in e)
    timestamp = wecom.timestamp()
    signature = wecom.crypto.signature(timestamp, "2", echostr)
    resp = await wecom.client.get(f"{PATH}?msg_signature={signature}&timestamp={timestamp}&nonce=2&echostr={echostr}")
    assert resp.status == 200 and await resp.text() == "42"


async def test_url_verification_with_a_forged_signature_is_refused_and_logged(bot, caplog):
    _, _, wecom = bot
    with caplog.at_level(logging.WARNING, logger="bot.adapters.wecom_callback"):
        resp = await wecom.verify_url("1616140317555161061", signature="0" * 40)
    assert resp.status == 403
    assert "1616140317555161061" not in await resp.text()
    assert "wrong signature" in caplog.text and "127.0.0.1" in caplog.text


async def test_url_verification_without_parameters_is_a_bad_request(bot):
    _, _, wecom = bot
    assert (await wecom.client.get(PATH, params={"timestamp": "1"})).status == 400


# ---- receiving -------------------------------------------------------------------------------------------

async def test_a_forged_callback_is_refused_logged_and_not_handled(bot, fake, caplog):
    _, app, wecom = bot
    with caplog.at_level(logging.WARNING, logger="bot.adapters.wecom_callback"):
        resp = await wecom.post(message("m1", "/help", response_url=fake.response_url("r1")), signature="f" * 40)
    assert resp.status == 403
    assert "wrong signature" in caplog.text and "127.0.0.1" in caplog.text
    assert app.events == []


@pytest.mark.parametrize("case", ["body not json", "body without encrypt", "plaintext not json", "deep plaintext",
                                  "other key"])
async def test_malformed_callbacks_are_bad_requests_without_tracebacks(bot, case, caplog):
    _, app, wecom = bot
    other = WecomCrypto(TOKEN, "b" * 43)
    with caplog.at_level(logging.WARNING, logger="bot.adapters.wecom_callback"):
        if case == "body not json":
            resp = await wecom.post("{}", raw=b"<xml>not json</xml>")
        elif case == "body without encrypt":
            resp = await wecom.post("{}", raw=b'{"Encrypt": 1}')
        elif case == "plaintext not json":
            resp = await wecom.post("{'msgid': ")
        elif case == "deep plaintext":
            resp = await wecom.post("[" * 100_000)
        else:                                           # signed right, encrypted with another bot's key
            resp = await wecom.post("{}", crypto=other)
    assert resp.status == 400
    assert app.events == []
    assert caplog.records and not any(r.exc_info for r in caplog.records)


@pytest.mark.parametrize("body", [
    {"msgid": "s1", "aibotid": "A", "chatid": GROUP, "chattype": "group", "from": {"userid": "u"},
     "msgtype": "stream", "stream": {"id": "STREAMID"}},
    {"msgid": "e1", "create_time": 1, "aibotid": "A", "chattype": "single", "from": {"userid": "u"},
     "msgtype": "event", "event": {"eventtype": "enter_chat"}},
    ["not", "an", "object"],
])
async def test_what_is_not_a_message_gets_an_empty_200(bot, body):
    _, app, wecom = bot
    resp = await wecom.post(body)
    assert resp.status == 200 and await resp.read() == b""
    assert app.events == []


async def test_a_message_becomes_an_incoming_message(bot, fake):
    adapter, app, wecom = bot
    quick(adapter)
    resp = await wecom.post(message("m1", "/找人 增长", response_url=fake.response_url("r1")))
    assert resp.status == 200
    [event] = app.events
    assert (event.event_id, event.room_id, event.sender_id, event.text) == ("wecom:m1", GROUP, "zhangsan",
                                                                            "/找人 增长")
    assert event.reply_token == fake.response_url("r1")


# ---- replies ---------------------------------------------------------------------------------------------

async def test_a_quick_reply_is_the_encrypted_passive_stream(bot, fake):
    _, app, wecom = bot
    app.answer_now["/找人 增长"] = "找到 1 位和「增长」相关的成员："
    resp = await wecom.post(message("m1", "/找人 增长", response_url=fake.response_url("r1")))
    assert resp.status == 200
    reply = wecom.open(await resp.json(), resp.nonce)
    assert reply["msgtype"] == "stream"
    assert reply["stream"]["finish"] is True and reply["stream"]["id"]
    assert reply["stream"]["content"] == "找到 1 位和「增长」相关的成员："
    assert fake.responses == [] and fake.webhook == []


async def test_a_slow_reply_goes_to_the_response_url(bot, fake):
    adapter, app, wecom = bot
    quick(adapter)
    resp = await wecom.post(message("m1", "/排行", response_url=fake.response_url("r1")))
    assert resp.status == 200 and await resp.read() == b""
    await adapter.send(reply_to(app.events[0], "本周排行"))
    assert fake.responses == [("r1", {"msgtype": "markdown", "markdown": {"content": "本周排行"}})]


async def test_the_parts_of_a_long_reply_use_passive_then_response_url_then_the_webhook(bot, fake):
    adapter, app, wecom = bot
    app.answer_now["/帮助"] = "part 1"
    resp = await wecom.post(message("m1", "/帮助", response_url=fake.response_url("r1")))
    assert wecom.open(await resp.json(), resp.nonce)["stream"]["content"] == "part 1"
    await adapter.send(reply_to(app.events[0], "part 2"))
    await adapter.send(reply_to(app.events[0], "part 3"))
    assert fake.responses == [("r1", {"msgtype": "markdown", "markdown": {"content": "part 2"}})]
    assert fake.webhook == [(KEY, {"msgtype": "markdown", "markdown": {"content": "part 3"}})]


async def test_a_second_part_after_the_response_url_goes_to_the_groups_webhook(bot, fake):
    adapter, app, wecom = bot
    quick(adapter)
    await wecom.post(message("m1", "/帮助", response_url=fake.response_url("r1")))
    await adapter.send(reply_to(app.events[0], "part 1"))
    await adapter.send(reply_to(app.events[0], "part 2"))
    assert [body["markdown"]["content"] for _, body in fake.responses] == ["part 1"]
    assert fake.webhook == [(KEY, {"msgtype": "markdown", "markdown": {"content": "part 2"}})]


@pytest.mark.parametrize("chat", [None, BARE])
async def test_a_second_part_without_a_webhook_fails_for_good(bot, fake, chat):
    adapter, app, wecom = bot
    quick(adapter)
    await wecom.post(message("m1", "/帮助", response_url=fake.response_url("r1"), chat=chat))
    await adapter.send(reply_to(app.events[0], "part 1"))
    with pytest.raises(SendError, match="already used") as err:
        await adapter.send(reply_to(app.events[0], "part 2"))
    assert not err.value.transient
    assert len(fake.responses) == 1 and fake.webhook == []


async def test_a_response_url_that_failed_in_transit_is_tried_again(bot, fake):
    adapter, app, wecom = bot
    quick(adapter)
    await wecom.post(message("m1", "/帮助", response_url=fake.response_url("r1")))
    fake.response_failures = 1
    with pytest.raises(SendError) as err:
        await adapter.send(reply_to(app.events[0], "part 1"))
    assert err.value.transient
    await adapter.send(reply_to(app.events[0], "part 1"))              # the outbox's retry
    assert [c for c, _ in fake.responses] == ["r1"] and fake.webhook == []


async def test_after_a_restart_a_refused_response_url_falls_back_to_the_webhook(bot, fake, clock):
    adapter, app, wecom = bot
    quick(adapter)
    await wecom.post(message("m1", "/帮助", response_url=fake.response_url("r1"), chat=None))
    await wecom.post(message("m2", "/帮助", response_url=fake.response_url("r2")))
    private, group = app.events
    await adapter.send(reply_to(private, "part 1"))
    await adapter.send(reply_to(group, "part 1"))
    restarted = WecomCallbackAdapter(adapter.config, webhook_keys={GROUP: KEY}, webhook_url=fake.webhook_url,
                                     clock=clock.now)             # knows nothing of the used response_urls
    try:
        await restarted.send(reply_to(group, "part 2"))
        with pytest.raises(SendError, match="response_url refused") as err:
            await restarted.send(reply_to(private, "part 2"))
        assert not err.value.transient
    finally:
        await restarted.close()
    assert [c for c, _ in fake.responses] == ["r1", "r2"]
    assert fake.webhook == [(KEY, {"msgtype": "markdown", "markdown": {"content": "part 2"}})]


async def test_a_response_url_is_not_used_after_an_hour(bot, fake, clock):
    adapter, app, wecom = bot
    quick(adapter)
    await wecom.post(message("m1", "/帮助", response_url=fake.response_url("r1")))
    clock.advance(minutes=61)
    await adapter.send(reply_to(app.events[0], "late"))
    assert fake.responses == [] and [k for k, _ in fake.webhook] == [KEY]


async def test_a_replayed_callback_is_handed_on_and_answered_empty(bot, fake):
    _, app, wecom = bot
    app.answer_now["/签到"] = "签到成功"
    body = message("m7", "/签到", response_url=fake.response_url("r7"))
    first = await wecom.post(body)
    again = await wecom.post(body)
    assert wecom.open(await first.json(), first.nonce)["stream"]["content"] == "签到成功"
    assert again.status == 200 and await again.read() == b""
    assert [e.event_id for e in app.events] == ["wecom:m7", "wecom:m7"]      # the app dedupes by event id
    assert fake.responses == [] and fake.webhook == []


async def test_a_replay_after_a_slow_reply_does_not_free_the_used_response_url(bot, fake):
    adapter, app, wecom = bot
    quick(adapter)
    body = message("m8", "/帮助", response_url=fake.response_url("r8"))
    await wecom.post(body)
    await adapter.send(reply_to(app.events[0], "part 1"))
    again = await wecom.post(body)                      # WeCom retries a request it thinks went unanswered
    assert again.status == 200 and await again.read() == b""
    await adapter.send(reply_to(app.events[0], "part 2"))
    assert [body["markdown"]["content"] for _, body in fake.responses] == ["part 1"]
    assert fake.webhook == [(KEY, {"msgtype": "markdown", "markdown": {"content": "part 2"}})]


async def timed(request: Awaitable[T]) -> tuple[T, float]:
    """What a request returned, and how many seconds it took."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    answer = await request
    return answer, loop.time() - began


@pytest.mark.parametrize("verdict", [False, RuntimeError("database down")])
async def test_a_message_the_bot_will_not_answer_is_answered_empty_at_once(bot, fake, caplog, verdict):
    """An unserved group, a redelivery, ordinary chat, a handler that failed: WeCom is not kept waiting."""
    adapter, app, wecom = bot
    adapter.passive_reply_seconds = 4.5
    app.verdict = verdict
    resp, took = await timed(wecom.post(message("m1", "今天天气不错", response_url=fake.response_url("r1"))))
    assert resp.status == 200 and await resp.read() == b""
    assert took < adapter.passive_reply_seconds / 2, f"held for {took:.1f} s"
    assert [e.event_id for e in app.events] == ["wecom:m1"]
    if isinstance(verdict, Exception):
        assert "handling message wecom:m1 failed" in caplog.text


@pytest.mark.parametrize("verdict", [True, None])
async def test_a_reply_queued_after_the_handler_returned_goes_back_in_the_response(bot, fake, verdict):
    """True (a reply is queued) or None (cannot tell): the reply, sent after the commit, is still waited for."""
    adapter, app, wecom = bot
    app.verdict = verdict
    posting = asyncio.create_task(wecom.post(message("m1", "/排行", response_url=fake.response_url("r1"))))
    await asyncio.wait_for(app.returned.wait(), 5)
    await adapter.send(reply_to(app.events[0], "本周排行"))
    resp = await posting
    assert wecom.open(await resp.json(), resp.nonce)["stream"]["content"] == "本周排行"
    assert fake.responses == []


@pytest.mark.parametrize("verdict", [True, None])
async def test_while_a_reply_may_come_the_request_is_held_for_the_passive_reply_window(bot, fake, verdict):
    adapter, app, wecom = bot
    adapter.passive_reply_seconds = 0.2
    app.verdict = verdict
    resp, took = await timed(wecom.post(message("m1", "/排行", response_url=fake.response_url("r1"))))
    assert took >= 0.2
    assert resp.status == 200 and await resp.read() == b""            # the reply will take the response_url


# ---- timestamps ------------------------------------------------------------------------------------------

async def test_a_callback_signed_in_the_year_2000_is_refused_and_logged(bot, fake, caplog):
    _, app, wecom = bot
    with caplog.at_level(logging.WARNING, logger="bot.adapters.wecom_callback"):
        resp = await wecom.post(message("m1", "/签到", response_url=fake.response_url("r1")), timestamp="946684800")
    assert resp.status == 403
    assert app.events == []
    assert "refused as a replay" in caplog.text and "127.0.0.1" in caplog.text


async def test_a_url_check_signed_long_ago_is_refused(bot, caplog):
    _, _, wecom = bot
    with caplog.at_level(logging.WARNING, logger="bot.adapters.wecom_callback"):
        resp = await wecom.verify_url("1616140317555161061", timestamp=wecom.timestamp(seconds_ago=3600))
    assert resp.status == 403 and "1616140317555161061" not in await resp.text()
    assert "refused as a replay" in caplog.text


@pytest.mark.parametrize("window, seconds_ago, accepted", [
    (None, 290, True), (None, -290, True),            # the default allows five minutes either way
    (None, 310, False), (None, -310, False),
    (3600, 1800, True), (60, 90, False),               # adapter.wecom.callback.max_clock_skew_seconds
])
async def test_callbacks_are_accepted_within_the_clock_window(bot, fake, window, seconds_ago, accepted):
    adapter, app, wecom = bot
    quick(adapter)
    if window is not None:
        adapter.config = adapter.config.model_copy(update={"max_clock_skew_seconds": window})
    resp = await wecom.post(message("m1", "/签到", response_url=fake.response_url("r1")),
                            timestamp=wecom.timestamp(seconds_ago=seconds_ago))
    assert (resp.status, len(app.events)) == ((200, 1) if accepted else (403, 0))


def test_the_clock_window_leaves_room_for_wecom_s_retries():
    with pytest.raises(ValidationError):
        WecomCallbackConfig(token=TOKEN, encoding_aes_key=AES_KEY, max_clock_skew_seconds=10)


# ---- scheduled posts and the webhook ---------------------------------------------------------------------

async def test_a_scheduled_post_goes_to_the_groups_webhook(bot, fake):
    adapter, _, _ = bot
    await adapter.send(Outgoing(ChatRef(room_id=GROUP), "🏆 上周分享排行"))
    assert fake.webhook == [(KEY, {"msgtype": "markdown", "markdown": {"content": "🏆 上周分享排行"}})]


async def test_webhook_markdown_over_4096_bytes_is_refused(bot, fake):
    adapter, _, _ = bot
    await adapter.send(Outgoing(ChatRef(room_id=GROUP), "长" * 1365))          # 4,095 bytes
    with pytest.raises(SendError, match="4096") as err:
        await adapter.send(Outgoing(ChatRef(room_id=GROUP), "长" * 1366))      # 4,098 bytes
    assert not err.value.transient
    assert len(fake.webhook) == 1


async def test_a_scheduled_post_to_a_group_without_a_key_fails_for_good(bot, fake):
    adapter, _, _ = bot
    with pytest.raises(SendError, match=r"groups\[\]\.webhook_key") as err:
        await adapter.send(Outgoing(ChatRef(room_id=BARE), "排行"))
    assert not err.value.transient and fake.webhook == []


async def test_a_private_message_cannot_be_started(bot, fake):
    adapter, _, _ = bot
    with pytest.raises(SendError, match="cannot start a private chat") as err:
        await adapter.send(Outgoing(ChatRef(user_id="u_owner"), "本周小结"))
    assert not err.value.transient


@pytest.mark.parametrize("answer, transient", [(45009, True), ("http 502", True), (93000, False),
                                               (40008, False)])
async def test_webhook_errors(bot, fake, answer, transient):
    adapter, _, _ = bot
    fake.answers[KEY] = answer
    with pytest.raises(SendError) as err:
        await adapter.send(Outgoing(ChatRef(room_id=GROUP), "排行"))
    assert err.value.transient is transient
    assert KEY not in str(err.value)                          # the key is a credential


async def test_an_unreachable_webhook_is_transient(fake, clock, unused_tcp_port):
    config = WecomCallbackConfig(token=TOKEN, encoding_aes_key=AES_KEY)
    adapter = WecomCallbackAdapter(config, webhook_keys={GROUP: KEY}, clock=clock.now,
                                   webhook_url=f"http://127.0.0.1:{unused_tcp_port}/cgi-bin/webhook/send")
    try:
        with pytest.raises(SendError, match="unreachable") as err:
            await adapter.send(Outgoing(ChatRef(room_id=GROUP), "排行"))
        assert err.value.transient
    finally:
        await adapter.close()


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


async def test_an_image_goes_to_the_webhook_with_its_md5(bot, fake, tmp_path):
    adapter, _, _ = bot
    path = tmp_path / "card.png"
    path.write_bytes(PNG)
    await adapter.send(Outgoing(ChatRef(room_id=GROUP), "本周卡片", kind="image", path=str(path)))
    [(key, image), (_, caption)] = fake.webhook
    assert key == KEY and image["msgtype"] == "image"
    assert base64.b64decode(image["image"]["base64"]) == PNG
    assert image["image"]["md5"] == hashlib.md5(PNG).hexdigest()
    assert caption == {"msgtype": "markdown", "markdown": {"content": "本周卡片"}}


async def test_what_the_webhook_cannot_take_is_refused_for_good(bot, fake, tmp_path):
    adapter, _, _ = bot
    gif = tmp_path / "a.gif"
    gif.write_bytes(b"GIF89a" + bytes(100))
    big = tmp_path / "big.png"
    big.write_bytes(PNG[:8] + bytes(2 * 1024 * 1024))
    for out in (Outgoing(ChatRef(room_id=GROUP), "", kind="image", path=str(gif)),
                Outgoing(ChatRef(room_id=GROUP), "", kind="image", path=str(big)),
                Outgoing(ChatRef(room_id=GROUP), "", kind="image", path=str(tmp_path / "missing.png")),
                Outgoing(ChatRef(room_id=GROUP), "spam", kind="remove", target="u9")):
        with pytest.raises(SendError) as err:
            await adapter.send(out)
        assert not err.value.transient, out
    assert fake.webhook == []


# ---- lifecycle -------------------------------------------------------------------------------------------

async def test_missing_credentials_stop_the_adapter():
    with pytest.raises(AdapterStopped, match="encoding_aes_key"):
        WecomCallbackAdapter(WecomCallbackConfig(token=TOKEN))


async def test_run_serves_until_close(unused_tcp_port):
    config = WecomCallbackConfig(token=TOKEN, encoding_aes_key=AES_KEY, host="127.0.0.1", port=unused_tcp_port)
    adapter = WecomCallbackAdapter(config)
    task = asyncio.create_task(adapter.run(FakeApp()))
    await adapter.close()
    await asyncio.wait_for(task, 5)
    assert await adapter.room_members(GROUP) == ()


async def test_a_webhook_that_takes_the_post_but_never_answers_is_not_posted_again():
    """The post may have reached the group: sending it again could show it twice."""
    from bot.adapters.wecom_webhook import WebhookClient

    never = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await never.wait()
        return web.json_response({"errcode": 0})

    app = web.Application()
    app.router.add_post("/cgi-bin/webhook/send", hang)
    server = TestServer(app)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            client = WebhookClient(session, str(server.make_url("/cgi-bin/webhook/send")), timeout=0.1)
            with pytest.raises(Unconfirmed) as unconfirmed:
                await client.send_markdown(KEY, "🏆 上周分享排行")
        assert not unconfirmed.value.transient and KEY not in str(unconfirmed.value)
    finally:
        never.set()
        await server.close()
