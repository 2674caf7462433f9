"""WeCom (企业微信) AI bot (智能机器人) in API mode: the long-connection adapter, and what both modes share.

Facts this module is built around (the official SDKs wecom-aibot-python-sdk 1.0.2 and WecomTeam/aibot-node-sdk,
and the developer documents 智能机器人 接收消息 / 被动回复消息 / 长连接):

- One WebSocket per bot to wss://openws.work.weixin.qq.com. Every frame is JSON {"cmd", "headers": {"req_id"},
  "body"}; every frame the client sends is acknowledged by a frame without "cmd" carrying the same req_id and
  "errcode"/"errmsg". The first frame subscribes: cmd "aibot_subscribe", body {"bot_id", "secret"}.
- Heartbeat: {"cmd": "ping"} every 30 s; two unanswered pings mean the link is dead.
- Messages arrive as cmd "aibot_msg_callback" with body {msgid, aibotid, chatid (groups only), chattype "group" |
  "single", from.userid, msgtype, text.content, response_url}; in groups the bot only sees messages that
  @-mention it, and text.content still starts with that mention. Events arrive as "aibot_event_callback";
  eventtype "disconnected_event" means a newer connection of the same bot took over: this one must stop.
- A reply to a message is cmd "aibot_respond_msg" with the message's req_id and a stream body
  {"msgtype": "stream", "stream": {"id", "finish": true, "content"}} (markdown, <= 20,480 bytes).
  A push is cmd "aibot_send_msg" {"chatid", "msgtype": "markdown", "markdown": {"content"}}; it reaches only
  chats that have talked to the bot (errcode 93006 otherwise).
- 30 messages a minute and 1,000 an hour per chat.

The official Python SDK is not used: 1.0.2 never reconnects after a clean close (including the close its own
heartbeat makes), leaves the socket open after a refused secret, and cannot connect to a plain ws:// URL, which
tests against a local server need. aiohttp (already a dependency) speaks WebSocket.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp

from bot.adapters.base import (
    AdapterStopped,
    Capability,
    IncomingEvent,
    IncomingMessage,
    Member,
    MessageKind,
    NotConnected,
    OnEvent,
    Outgoing,
    SendError,
    Unconfirmed,
)
from bot.config import PlatformLimits

log = logging.getLogger(__name__)

# In groups the bot sees only messages that @-mention it: no joins, no member lists, no free chat. Replies in
# private work, but a push reaches only people who have written to the bot, so flows stay in the group.
CAPABILITIES: frozenset[Capability] = frozenset()
LIMITS = PlatformLimits(max_bytes=20_480, per_minute=30, per_hour=1000)
NOT_A_CHAT = 93006                          # errcode of a push to a chat that never talked to the bot
RETRY_LATER = {45009}                       # rate limited
LOST_SUBSCRIPTION = {846609}                # the socket is up but no longer subscribed
_LEADING_MENTION = re.compile(r"\A\s*@[^\s\u2005\u3000]{1,40}[\s\u2005\u3000]*")
_KINDS = {"text": MessageKind.TEXT, "mixed": MessageKind.TEXT, "voice": MessageKind.TEXT,
          "image": MessageKind.IMAGE, "file": MessageKind.FILE}


def message_from_body(body: Any, reply_token: str | None, now: datetime) -> IncomingMessage | None:
    """The neutral message of a callback body (same fields in both modes); None for what is not a message."""
    if not isinstance(body, dict) or not isinstance(body.get("msgid"), str) or not body["msgid"]:
        return None
    sender = body.get("from")
    user_id = sender.get("userid") if isinstance(sender, dict) else None
    if not isinstance(user_id, str) or not user_id:
        return None
    kind = _KINDS.get(str(body.get("msgtype")))
    if kind is None:
        log.info("wecom: ignoring a %r message (%s)", body.get("msgtype"), body["msgid"])
        return None
    group = body.get("chattype") == "group"
    room_id = body.get("chatid") if group else None
    if group and not isinstance(room_id, str):
        return None
    text = _text_of(body)
    if group:
        text = _LEADING_MENTION.sub("", text, count=1)     # the mention of the bot that made WeCom deliver it
    return IncomingMessage(event_id=f"wecom:{body['msgid']}", room_id=room_id, sender_id=user_id,
                           sender_name=user_id, text=text, sent_at=now, kind=kind, reply_token=reply_token)


def _text_of(body: dict) -> str:
    msgtype = body.get("msgtype")
    if msgtype == "text":
        content = (body.get("text") or {}).get("content")
    elif msgtype == "voice":
        content = (body.get("voice") or {}).get("content")      # WeCom's transcript of the voice message
    elif msgtype == "mixed":
        items = (body.get("mixed") or {}).get("msg_item") or []
        content = "\n".join(i.get("text", {}).get("content", "") for i in items
                            if isinstance(i, dict) and i.get("msgtype") == "text")
    else:
        content = ""
    return content if isinstance(content, str) else ""


def chat_id(out: Outgoing) -> str:
    """Where a push goes: the group's chatid, or the user's id for a private chat."""
    return out.chat.room_id if out.chat.room_id is not None else out.chat.user_id  # type: ignore[return-value]


class _NotSent(Exception):
    """The frame did not leave: the socket is closing or closed."""


class _NoAck(Exception):
    """The frame left but no acknowledgement came (timeout, or the link dropped meanwhile)."""


class _Link:
    """One subscribed WebSocket: sends frames and waits for the acknowledgement with the same req_id."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, ack_timeout: float) -> None:
        self.ws = ws
        self.ack_timeout = ack_timeout
        self.pending: dict[str, asyncio.Future[dict]] = {}
        self._ids = itertools.count(1)

    def req_id(self, prefix: str) -> str:
        return f"{prefix}_{int(time.time() * 1000)}_{next(self._ids)}"

    async def request(self, cmd: str, body: dict | None = None, *, req_id: str | None = None) -> dict:
        req_id = req_id or self.req_id(cmd)
        frame: dict[str, Any] = {"cmd": cmd, "headers": {"req_id": req_id}}
        if body is not None:
            frame["body"] = body
        future: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
        self.pending[req_id] = future
        try:
            try:
                await self.ws.send_str(json.dumps(frame, ensure_ascii=False))
            except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
                raise _NotSent(str(exc) or type(exc).__name__) from None
            try:
                return await asyncio.wait_for(future, self.ack_timeout)
            except (TimeoutError, ConnectionError) as exc:
                raise _NoAck(str(exc) or "no acknowledgement") from None
        finally:
            self.pending.pop(req_id, None)

    def acknowledge(self, frame: dict[str, Any]) -> None:
        future = self.pending.get(str((frame.get("headers") or {}).get("req_id")))
        if future is not None and not future.done():
            future.set_result(frame)

    def fail_all(self, exc: Exception) -> None:
        for future in self.pending.values():
            if not future.done():
                future.set_exception(exc)


class WecomAdapter:
    """The Adapter for a WeCom AI bot over its long connection (see the module docstring)."""

    name = "wecom"
    capabilities = CAPABILITIES
    limits = LIMITS

    def __init__(self, bot_id: str | None, secret: str | None, *, url: str = "wss://openws.work.weixin.qq.com",
                 heartbeat_seconds: float = 30.0, ack_timeout: float = 5.0,
                 clock: Callable[[], datetime] | None = None) -> None:
        if not bot_id or not secret:
            raise AdapterStopped("the wecom adapter needs the bot's id and secret: set adapter.wecom.bot_id and "
                                 "adapter.wecom.secret (or WECOM_BOT_ID and WECOM_BOT_SECRET), from the admin "
                                 "console's API-mode settings of the bot")
        self.bot_id = bot_id
        self._secret = secret
        self.url = url
        self.heartbeat_seconds = heartbeat_seconds
        self.ack_timeout = ack_timeout
        self._now = clock or (lambda: datetime.now(UTC))
        self._link: _Link | None = None
        self._answered: set[str] = set()        # req_ids replied to on this connection (one stream each)
        self._connected = asyncio.Event()
        self._closing = False
        self._subscribed_before = False         # a refusal after that is the server's trouble, not the secret
        self._events: asyncio.Queue[IncomingEvent] = asyncio.Queue()
        self._consumer: asyncio.Task | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------

    async def run(self, on_event: OnEvent) -> None:
        """Subscribe and deliver messages until close(); raises when the link drops (the app restarts it with
        backoff), AdapterStopped when the secret is refused or another connection took over."""
        self._closing = False
        if self._consumer is None or self._consumer.done():
            # Messages are handled one at a time by their own task, so reading (and the acknowledgements of
            # what the bot sends meanwhile) never waits for a database transaction.
            self._consumer = asyncio.create_task(self._consume(on_event), name="wecom-events")
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(self.url, heartbeat=None, autoping=True) as ws:
                link = _Link(ws, self.ack_timeout)
                reader = asyncio.create_task(self._read(link), name="wecom-reader")
                try:
                    await self._subscribe(link, reader)
                    self._link = link
                    self._subscribed_before = True
                    self._answered.clear()      # req_ids of an earlier connection are void anyway
                    self._connected.set()
                    log.info("wecom: subscribed as bot %s", self.bot_id)
                    await self._heartbeat(link, reader)
                finally:
                    self._connected.clear()
                    self._link = None
                    link.fail_all(ConnectionError("the wecom connection closed"))
                    reader.cancel()
                    await asyncio.gather(reader, return_exceptions=True)
        if not self._closing:
            raise ConnectionError("the wecom connection closed")

    async def _subscribe(self, link: _Link, reader: asyncio.Task) -> None:
        ack = asyncio.create_task(link.request("aibot_subscribe", {"bot_id": self.bot_id, "secret": self._secret}))
        done, _ = await asyncio.wait({ack, reader}, return_when=asyncio.FIRST_COMPLETED)
        if ack not in done:
            ack.cancel()
            reader.result()                     # the reader failed or the server closed: raise that
            raise ConnectionError("the wecom server closed the connection before answering the subscription")
        try:
            frame = ack.result()
        except (_NotSent, _NoAck) as exc:
            raise ConnectionError(f"the wecom subscription got no answer: {exc}") from None
        if frame.get("errcode", 0) != 0:
            refusal = f"WeCom refused the subscription of bot {self.bot_id}: {frame.get('errcode')} " \
                      f"{frame.get('errmsg', '')}"
            if self._subscribed_before:         # it worked with these credentials: try again with backoff
                raise ConnectionError(refusal)
            raise AdapterStopped(f"{refusal} — check adapter.wecom.bot_id and adapter.wecom.secret")

    async def _heartbeat(self, link: _Link, reader: asyncio.Task) -> None:
        missed = 0
        while True:
            done, _ = await asyncio.wait({reader}, timeout=self.heartbeat_seconds)
            if done:
                reader.result()                 # AdapterStopped, or a read error
                return                          # closed: by close(), or by the server (run() raises)
            try:
                ack = await link.request("ping")
                missed = 0
                if ack.get("errcode") in LOST_SUBSCRIPTION:
                    raise ConnectionError("WeCom dropped the subscription; subscribing again")
            except (_NotSent, _NoAck):
                missed += 1
                log.warning("wecom: heartbeat %d unanswered", missed)
                if missed >= 2:
                    raise ConnectionError("the wecom server stopped answering heartbeats") from None

    async def _consume(self, on_event: OnEvent) -> None:
        while True:
            event = await self._events.get()
            try:
                await on_event(event)
            except Exception:
                log.exception("wecom: message %s could not be handled", event.event_id)

    async def _read(self, link: _Link) -> None:
        async for msg in link.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            try:
                frame = json.loads(msg.data)
            except ValueError:
                log.warning("wecom: a frame that is not JSON was ignored: %.200s", msg.data)
                continue
            if not isinstance(frame, dict):
                continue
            cmd = frame.get("cmd")
            if cmd is None:
                link.acknowledge(frame)
            elif cmd in ("aibot_msg_callback", "aibot_callback"):
                req_id = (frame.get("headers") or {}).get("req_id")
                event = message_from_body(frame.get("body"), req_id, self._now())
                if event is not None:
                    self._events.put_nowait(event)
            elif cmd == "aibot_event_callback":
                eventtype = ((frame.get("body") or {}).get("event") or {}).get("eventtype")
                if eventtype == "disconnected_event":
                    raise AdapterStopped("another connection of WeCom bot "
                                         f"{self.bot_id} took over (is a second qunbot running with this bot?); "
                                         "this one stops")
                log.debug("wecom: event %s ignored", eventtype)
            else:
                log.debug("wecom: frame %s ignored", cmd)

    async def close(self) -> None:
        self._closing = True
        link = self._link
        if link is not None:
            await link.ws.close()
        if self._consumer is not None:
            self._consumer.cancel()
            await asyncio.gather(self._consumer, return_exceptions=True)
            self._consumer = None

    # -- sending -----------------------------------------------------------------------------------------

    async def send(self, out: Outgoing) -> None:
        if out.kind != "say":
            raise SendError(f"WeCom bots cannot {out.kind}", transient=False)
        link = self._link
        if link is None:
            try:
                await asyncio.wait_for(self._connected.wait(), self.ack_timeout)
            except TimeoutError:
                raise NotConnected("not connected to WeCom (reconnecting)") from None
            link = self._link
            if link is None:
                raise NotConnected("not connected to WeCom (reconnecting)")
        token = (out.reply_to or {}).get("token")
        if token and token not in self._answered:
            self._answered.add(token)
            ack = await self._request(link, "aibot_respond_msg", {
                "msgtype": "stream", "stream": {"id": link.req_id("reply"), "finish": True, "content": out.text}},
                req_id=token)
            if ack.get("errcode", 0) == 0:
                return
            # The reply channel is gone (a req_id of an earlier connection, a stream past its ~6 minutes, ...):
            # WeCom refused it, so nothing was shown; the chat still gets the message as a push.
            log.info("wecom: reply to %s refused (%s %s); pushing it instead", token, ack.get("errcode"),
                     ack.get("errmsg", ""))
        ack = await self._request(link, "aibot_send_msg", {
            "chatid": chat_id(out), "msgtype": "markdown", "markdown": {"content": out.text}})
        code = ack.get("errcode", 0)
        if code == 0:
            return
        if code == NOT_A_CHAT:
            raise SendError(f"WeCom cannot post to {chat_id(out)}: nobody there has written to the bot yet "
                            f"({code} {ack.get('errmsg', '')})", transient=False)
        if code in LOST_SUBSCRIPTION:
            await link.ws.close()               # run() ends and the supervisor subscribes again
            raise NotConnected(f"WeCom dropped the subscription ({code}); subscribing again")
        raise SendError(f"WeCom refused the message: {code} {ack.get('errmsg', '')}", transient=code in RETRY_LATER)

    @staticmethod
    async def _request(link: _Link, cmd: str, body: dict, *, req_id: str | None = None) -> dict:
        try:
            return await link.request(cmd, body, req_id=req_id)
        except _NotSent as exc:
            raise NotConnected(f"the WeCom connection is closing ({exc})") from None
        except _NoAck as exc:
            raise Unconfirmed(f"WeCom did not confirm the message ({exc}); not sent again, it may have "
                              "arrived") from None

    async def room_members(self, room_id: str) -> Sequence[Member]:
        return ()                               # WeCom gives bots no member lists
