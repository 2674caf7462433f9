"""WeCom (企业微信) AI bot in callback-URL mode: WeCom POSTs each message to our HTTPS endpoint.

Facts this module is built around (developer documents 智能机器人 接收消息 path/100719, 被动回复消息 path/101031,
回调和回复的加解密方案 path/101033, 主动回复消息 path/101138, 群机器人 path/91770; see also bot.adapters.wecom):

- Every request carries msg_signature, timestamp and nonce in the query. The URL check is a GET with an encrypted
  `echostr`, answered within 1 s with its plaintext; messages are POSTs with the JSON body {"encrypt": ...}
  holding the same JSON message as the long connection (msgid, chatid, chattype, from.userid, msgtype, text,
  response_url). The bot's receive id is "".
- A message is answered in the HTTP response itself (a "passive reply": for a user message only a stream,
  {"msgtype": "stream", "stream": {"id", "finish", "content"}}, encrypted in {"encrypt", "msgsignature",
  "timestamp", "nonce"} with the request's nonce) or with an empty body. WeCom gives up on a request after about
  5 s, so the passive reply is only waited for config.passive_reply_seconds.
- Otherwise the reply goes later to the message's response_url: one plain JSON POST ({"msgtype": "markdown",
  ...}), usable once, within an hour.
- The bot cannot start a conversation in callback mode: scheduled posts to a group go through that group's robot
  webhook (groups[].webhook_key), which allows 20 messages a minute and 4,096 bytes of markdown.
- Callbacks may be repeated (WeCom retries a request it got no answer to): the msgid is the dedup key. A request
  whose timestamp (part of what the signature covers) is further than config.max_clock_skew_seconds from this
  host's clock is refused, so a captured request cannot be replayed later, when its msgid is forgotten.
"""
from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.adapters.base import AdapterStopped, IncomingMessage, Member, OnEvent, Outgoing, SendError, Unconfirmed
from bot.adapters.wecom import CAPABILITIES, message_from_body
from bot.adapters.wecom_crypto import CryptoError, SignatureError, WecomCrypto
from bot.adapters.wecom_webhook import WebhookClient, post_json
from bot.config import Config, PlatformLimits, WecomCallbackConfig

log = logging.getLogger(__name__)

# Scheduled posts go through group webhooks: 20 a minute and 4,096 bytes of markdown bound every message.
LIMITS = PlatformLimits(max_bytes=4096, per_minute=20, per_hour=1000)
RESPONSE_URL_LIFETIME = timedelta(hours=1)
REMEMBERED_MESSAGES = 10_000            # msgids kept for dedup and response_url bookkeeping (an hour's worth)
DEFAULT_WEBHOOK_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"


@dataclass
class _Received:
    """A message WeCom delivered, and what is left of its reply channels."""

    room_id: str | None
    response_url: str | None
    at: datetime
    url_used: bool = False


class WecomCallbackAdapter:
    """The Adapter for a WeCom AI bot whose messages arrive at an HTTP callback (see the module docstring)."""

    name = "wecom_callback"
    capabilities = CAPABILITIES
    limits = LIMITS

    def __init__(self, config: WecomCallbackConfig, *, webhook_keys: Mapping[str, str] | None = None,
                 webhook_url: str = DEFAULT_WEBHOOK_URL, clock: Callable[[], datetime] | None = None,
                 http_timeout: float = 10.0) -> None:
        if not config.token or not config.encoding_aes_key:
            raise AdapterStopped("the wecom callback adapter needs the bot's Token and EncodingAESKey: set "
                                 "adapter.wecom.callback.token and adapter.wecom.callback.encoding_aes_key (or "
                                 "WECOM_CALLBACK_TOKEN and WECOM_ENCODING_AES_KEY), from the bot's API-mode "
                                 "settings in the admin console")
        self.config = config
        self.crypto = WecomCrypto(config.token, config.encoding_aes_key, receive_id="")
        self.passive_reply_seconds = config.passive_reply_seconds
        self.webhook_keys = dict(webhook_keys or {})
        self.webhook_url = webhook_url
        self.http_timeout = http_timeout
        self._now = clock or (lambda: datetime.now(UTC))
        self._received: OrderedDict[str, _Received] = OrderedDict()     # by event id, oldest first
        self._waiting: dict[str, asyncio.Future[str]] = {}              # event id -> the passive reply's text
        self._tasks: set[asyncio.Task] = set()
        self._session: aiohttp.ClientSession | None = None
        self._stop = asyncio.Event()

    @classmethod
    def from_config(cls, config: Config, clock: Callable[[], datetime] | None = None) -> WecomCallbackAdapter:
        """The adapter config.yaml describes: adapter.wecom.callback, and each group's webhook_key."""
        keys = {g.room: g.webhook_key for c in config.communities for g in c.groups if g.webhook_key}
        wecom = config.adapter.wecom
        return cls(wecom.callback, webhook_keys=keys, webhook_url=wecom.webhook_url, clock=clock)

    # -- lifecycle ---------------------------------------------------------------------------------------

    def web_app(self, on_event: OnEvent) -> web.Application:
        """The callback endpoint as an aiohttp application (run() serves it; tests drive it directly)."""
        async def receive(request: web.Request) -> web.StreamResponse:
            return await self._receive(request, on_event)

        app = web.Application()
        app.router.add_get(self.config.path, self._verify_url)
        app.router.add_post(self.config.path, receive)
        return app

    async def run(self, on_event: OnEvent) -> None:
        """Serve the callback endpoint until close()."""
        runner = web.AppRunner(self.web_app(on_event), access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.config.host, self.config.port)
            await site.start()
            log.info("wecom: listening for callbacks on http://%s:%d%s", self.config.host, self.config.port,
                     self.config.path)
            await self._stop.wait()
        finally:
            await runner.cleanup()
            await self._finish_tasks()

    async def close(self) -> None:
        self._stop.set()
        await self._finish_tasks()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _finish_tasks(self, grace: float = 5.0) -> None:
        """Let messages being handled finish (their transaction), within `grace` seconds."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def room_members(self, room_id: str) -> Sequence[Member]:
        return ()                               # WeCom gives bots no member lists

    # -- incoming ----------------------------------------------------------------------------------------

    @staticmethod
    def _origin(request: web.Request) -> str:
        forwarded = request.headers.get("X-Forwarded-For")
        return f"{request.remote} (forwarded for {forwarded})" if forwarded else str(request.remote)

    async def _verify_url(self, request: web.Request) -> web.StreamResponse:
        """WeCom's URL check: decrypt echostr and answer with its plaintext, nothing else."""
        q = request.query
        signature, timestamp, nonce = q.get("msg_signature"), q.get("timestamp"), q.get("nonce")
        echostr = q.get("echostr")
        if not (signature and timestamp and nonce and echostr):
            log.warning("wecom: URL check from %s without msg_signature/timestamp/nonce/echostr",
                        self._origin(request))
            return web.Response(status=400)
        echostr = echostr.replace(" ", "+")     # a "+" not percent-encoded reads as a space; base64 has none
        try:
            self.crypto.verify(signature, timestamp, nonce, echostr)
        except SignatureError:
            log.warning("wecom: URL check from %s with a wrong signature (is the Token right?)",
                        self._origin(request))
            return web.Response(status=403)
        if (refused := self._refuse_stale(timestamp, "URL check", self._origin(request))) is not None:
            return refused
        try:
            plain = self.crypto.decrypt(echostr)
        except CryptoError as exc:
            log.warning("wecom: URL check from %s: echostr does not decrypt (%s; is the EncodingAESKey right?)",
                        self._origin(request), exc)
            return web.Response(status=400)
        return web.Response(text=plain)

    async def _receive(self, request: web.Request, on_event: OnEvent) -> web.StreamResponse:
        """One callback: check, decrypt, hand the message on, and answer with its reply if it comes in time."""
        started = asyncio.get_running_loop().time()
        origin = self._origin(request)
        q = request.query
        signature, timestamp, nonce = q.get("msg_signature"), q.get("timestamp"), q.get("nonce")
        if not (signature and timestamp and nonce):
            log.warning("wecom: callback from %s without msg_signature/timestamp/nonce", origin)
            return web.Response(status=400)
        try:
            encrypted = json.loads(await request.read()).get("encrypt")
        except (ValueError, AttributeError, RecursionError):
            encrypted = None
        if not isinstance(encrypted, str) or not encrypted:
            log.warning("wecom: callback from %s whose body is not {\"encrypt\": ...}", origin)
            return web.Response(status=400)
        try:
            self.crypto.verify(signature, timestamp, nonce, encrypted)
        except SignatureError:
            log.warning("wecom: callback from %s with a wrong signature; ignored", origin)
            return web.Response(status=403)
        if (refused := self._refuse_stale(timestamp, "callback", origin)) is not None:
            return refused
        try:
            body = json.loads(self.crypto.decrypt(encrypted))
        except CryptoError as exc:
            log.warning("wecom: callback from %s does not decrypt (%s; is the EncodingAESKey right?)", origin, exc)
            return web.Response(status=400)
        except (ValueError, RecursionError):
            log.warning("wecom: callback from %s decrypts to something that is not JSON", origin)
            return web.Response(status=400)
        response_url = body.get("response_url") if isinstance(body, dict) else None
        message = message_from_body(body, response_url if isinstance(response_url, str) else None, self._now())
        if message is None:                     # events, stream refreshes, kinds we do not handle
            return web.Response()
        replayed = message.event_id in self._received
        waiter = None
        if not replayed:
            self._remember(message)
            waiter = asyncio.get_running_loop().create_future()
            self._waiting[message.event_id] = waiter
        # The message is handled in its own task: it commits even if WeCom hangs up on this request.
        handling = asyncio.create_task(self._deliver(on_event, message), name=f"wecom-{message.event_id}")
        self._tasks.add(handling)
        handling.add_done_callback(self._tasks.discard)
        if waiter is None:                      # a repeated callback: the app ignores its id, nothing to wait for
            return web.Response()
        try:
            text = await self._passive_reply(waiter, handling, started + self.passive_reply_seconds)
        finally:
            if self._waiting.get(message.event_id) is waiter:
                del self._waiting[message.event_id]
        if text is None:
            return web.Response()
        reply = {"msgtype": "stream", "stream": {"id": uuid.uuid4().hex, "finish": True, "content": text}}
        envelope = self.crypto.reply_envelope(json.dumps(reply, ensure_ascii=False), nonce,
                                              int(self._now().timestamp()))
        return web.json_response(envelope)

    @staticmethod
    async def _passive_reply(waiter: asyncio.Future[str], handling: asyncio.Task[bool | None],
                             deadline: float) -> str | None:
        """The reply's text if it is ready by `deadline` (event-loop time); None at once when the handler says
        the bot will not answer (or failed), else at the deadline (a later reply goes to the response_url)."""
        loop = asyncio.get_running_loop()
        watching: set[asyncio.Future] = {waiter, handling}
        while not waiter.done():
            done, _ = await asyncio.wait(watching, timeout=max(0.0, deadline - loop.time()),
                                         return_when=asyncio.FIRST_COMPLETED)
            if waiter.done() or not done:
                break
            watching.discard(handling)          # the handler returned; True or None: the reply may still come
            if handling.cancelled() or handling.result() is False:
                return None
        return waiter.result() if waiter.done() else None

    async def _deliver(self, on_event: OnEvent, message: IncomingMessage) -> bool | None:
        """Hand the message to the app; what it says about answering (False when it failed)."""
        try:
            return await on_event(message)
        except Exception:
            log.exception("wecom: handling message %s failed", message.event_id)
            return False

    def _refuse_stale(self, timestamp: str, what: str, origin: str) -> web.Response | None:
        """The answer to a (correctly signed) request whose timestamp is too far from now; None when it is fine."""
        try:
            skew = int(timestamp) - self._now().timestamp()
        except (ValueError, OverflowError):
            log.warning("wecom: %s from %s with a timestamp that is not a number of seconds", what, origin)
            return web.Response(status=400)
        if abs(skew) <= self.config.max_clock_skew_seconds:
            return None
        log.warning("wecom: %s from %s is timestamped %.0f s %s this host's clock (allowed: %d s); refused as a "
                    "replay (if every request gets this, check the clock)", what, origin, abs(skew),
                    "behind" if skew < 0 else "ahead of", self.config.max_clock_skew_seconds)
        return web.Response(status=403)

    def _remember(self, message: IncomingMessage) -> None:
        now = self._now()
        self._received[message.event_id] = _Received(message.room_id, message.reply_token, now)
        while self._received:
            oldest = next(iter(self._received.values()))
            if len(self._received) <= REMEMBERED_MESSAGES and oldest.at + RESPONSE_URL_LIFETIME > now:
                break
            self._received.popitem(last=False)

    # -- sending -----------------------------------------------------------------------------------------

    async def send(self, out: Outgoing) -> None:
        if out.kind == "image":
            await self._send_image(out)
            return
        if out.kind != "say":
            raise SendError(f"WeCom bots cannot {out.kind}", transient=False)
        reply_to = out.reply_to or {}
        event_id, token = reply_to.get("event_id"), reply_to.get("token")
        waiter = self._waiting.get(event_id) if event_id else None
        if waiter is not None and not waiter.done():
            waiter.set_result(out.text)         # answered in the callback's own HTTP response
            return
        if token:
            received = self._received.get(event_id) if event_id else None
            key = self.webhook_keys.get(out.chat.room_id) if out.chat.room_id is not None else None
            if received is None or (not received.url_used and received.at + RESPONSE_URL_LIFETIME > self._now()):
                try:
                    await self._send_response_url(received, token, out.text)
                    return
                except SendError as exc:
                    # Refused, so nothing was posted (e.g. used before a restart): the group's webhook may take it.
                    # Not when WeCom never answered: it may have been shown already.
                    if exc.transient or key is None or isinstance(exc, Unconfirmed):
                        raise
                    log.warning("wecom: %s; posting through the group's webhook instead", exc)
            elif key is None:
                raise SendError("the reply channel of this WeCom message is already used (or over an hour "
                                "old) and there is no group webhook to post the rest", transient=False)
            await self._webhook().send_markdown(key, out.text)
            return
        await self._webhook().send_markdown(self._webhook_key(out), out.text)

    async def _send_response_url(self, received: _Received | None, url: str, text: str) -> None:
        if received is not None:
            received.url_used = True            # taken before the POST, so no other part uses it meanwhile
        try:
            await post_json(self._http(), url, {"msgtype": "markdown", "markdown": {"content": text}},
                            what="the message's response_url", timeout=self.http_timeout, require_errcode=False)
        except SendError as exc:
            if exc.transient and received is not None:
                received.url_used = False       # most likely never reached WeCom: the retry may use it again
            raise

    def _webhook_key(self, out: Outgoing) -> str:
        if out.chat.room_id is None:
            raise SendError("WeCom callback mode cannot start a private chat", transient=False)
        key = self.webhook_keys.get(out.chat.room_id)
        if key is None:
            raise SendError(f"group {out.chat.room_id} has no robot webhook: in callback mode the bot can only "
                            "answer messages; set groups[].webhook_key in config.yaml for scheduled posts",
                            transient=False)
        return key

    def _webhook(self) -> WebhookClient:
        return WebhookClient(self._http(), self.webhook_url, timeout=self.http_timeout)

    async def _send_image(self, out: Outgoing) -> None:
        key = self._webhook_key(out)
        if not out.path:
            raise SendError("an image message without a file", transient=False)
        try:
            data = await asyncio.to_thread(Path(out.path).read_bytes)
        except OSError as exc:
            raise SendError(f"cannot read image {out.path}: {exc.strerror}", transient=False) from None
        webhook = self._webhook()
        await webhook.send_image(key, data)
        if out.text:
            try:
                await webhook.send_markdown(key, out.text)
            except SendError as exc:            # the image went out: retrying would post it twice
                raise SendError(f"the image was posted but not its caption: {exc}", transient=False) from None
