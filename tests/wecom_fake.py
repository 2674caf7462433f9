"""A local stand-in for WeCom's AI-bot long-connection server, speaking the documented frames.

It accepts one subscription per bot (refusing a wrong secret), acknowledges every frame with its req_id, answers
pings unless told to go silent, delivers member messages as "aibot_msg_callback", records replies and pushes, and
refuses pushes to chats that never talked to the bot (errcode 93006). Tests drive it; `python -m tests.wecom_fake`
plays a short demo conversation with the real bot against it.
"""
from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web


@dataclass
class Frame:
    """A frame the bot sent, and the connection it came on."""

    cmd: str
    req_id: str
    body: dict[str, Any]
    connection: int


@dataclass
class FakeWecom:
    bot_id: str = "bot-1"
    secret: str = "s3cret"
    answer_pings: bool = True
    ack_sends: bool = True                                   # False: frames are taken but never acknowledged
    replies_expired: bool = False                            # True: replies are refused as too late (846608)
    subscribed_forgotten: bool = False                       # True: the socket stays up, the subscription is gone
    frames: list[Frame] = field(default_factory=list)
    connections: int = 0
    talked: set[str] = field(default_factory=set)          # chats (chatid or userid) that wrote to the bot
    _ws: web.WebSocketResponse | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    _open: set[web.WebSocketResponse] = field(default_factory=set)
    port: int = 0

    # -- server --------------------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]          # type: ignore[union-attr]
        return f"ws://127.0.0.1:{self.port}/"

    async def stop(self) -> None:
        for ws in list(self._open):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(timeout=1.0)
        await ws.prepare(request)
        self._open.add(ws)
        self.connections += 1
        number = self.connections
        subscribed = False
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            req_id = frame["headers"]["req_id"]
            cmd, body = frame["cmd"], frame.get("body") or {}
            if cmd == "aibot_subscribe":
                if body.get("bot_id") != self.bot_id or body.get("secret") != self.secret:
                    await ws.send_json({"headers": {"req_id": req_id}, "errcode": 40001, "errmsg": "invalid secret"})
                    continue
                subscribed = True
                if self._ws is not None and not self._ws.closed:       # one connection per bot: the old one goes
                    await self._ws.send_json(self._event("disconnected_event"))
                    await self._ws.close()
                self._ws = ws
                await ws.send_json({"headers": {"req_id": req_id}, "errcode": 0, "errmsg": "ok"})
            elif not subscribed or self.subscribed_forgotten:
                await ws.send_json({"headers": {"req_id": req_id}, "errcode": 846609, "errmsg": "not subscribed"})
            elif cmd == "ping":
                if self.answer_pings:
                    await ws.send_json({"headers": {"req_id": req_id}, "errcode": 0, "errmsg": "ok"})
            else:
                verdict = self._verdict(cmd, body)
                if verdict["errcode"] == 0:
                    await self._record(Frame(cmd, req_id, body, number))      # seen before the bot hears "ok"
                if self.ack_sends:
                    await ws.send_json({"headers": {"req_id": req_id}, **verdict})
        self._open.discard(ws)
        return ws

    def _verdict(self, cmd: str, body: dict) -> dict:
        if cmd == "aibot_respond_msg" and self.replies_expired:
            return {"errcode": 846608, "errmsg": "stream message update expired"}
        if cmd == "aibot_send_msg" and body.get("chatid") not in self.talked:
            return {"errcode": 93006, "errmsg": "invalid chatid"}
        content = (body.get("stream") or body.get("markdown") or {}).get("content", "")
        if len(content.encode()) > 20_480:
            return {"errcode": 40058, "errmsg": "content exceed max length"}
        return {"errcode": 0, "errmsg": "ok"}

    async def _record(self, frame: Frame) -> None:
        async with self._changed:
            self.frames.append(frame)
            self._changed.notify_all()

    def _event(self, eventtype: str) -> dict:
        return {"cmd": "aibot_event_callback", "headers": {"req_id": f"evt_{next(self._ids)}"},
                "body": {"msgid": f"evt{next(self._ids)}", "aibotid": self.bot_id, "msgtype": "event",
                         "event": {"eventtype": eventtype}}}

    # -- what a test does ----------------------------------------------------------------------------------

    async def say(self, user: str, text: str, *, chat: str | None = None, msgid: str | None = None,
                  msgtype: str = "text") -> str:
        """A member writes to the bot (in group `chat`, or privately); returns the req_id to answer with."""
        req_id = f"srv_{next(self._ids)}"
        body: dict[str, Any] = {"msgid": msgid or f"m{next(self._ids)}", "aibotid": self.bot_id,
                                "chattype": "group" if chat else "single", "from": {"userid": user},
                                "msgtype": msgtype, "response_url": f"https://example.invalid/{req_id}"}
        if chat:
            body["chatid"] = chat
        if msgtype == "text":
            body["text"] = {"content": text}
        self.talked.add(chat or user)
        await self.send_raw({"cmd": "aibot_msg_callback", "headers": {"req_id": req_id}, "body": body})
        return req_id

    async def send_raw(self, frame: Any) -> None:
        assert self._ws is not None, "no subscribed connection"
        await self._ws.send_str(frame if isinstance(frame, str) else json.dumps(frame, ensure_ascii=False))

    async def take_over(self) -> None:
        """Another instance of the same bot subscribed: this connection is told and closed."""
        await self.send_raw(self._event("disconnected_event"))

    async def drop(self) -> None:
        """The server closes the socket."""
        if self._ws is not None:
            await self._ws.close()

    async def wait_for(self, check: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Until `check()` is truthy (it is evaluated whenever the bot sends a frame); returns its value."""
        async def until() -> Any:
            async with self._changed:
                while not (value := check()):
                    await self._changed.wait()
                return value
        return await asyncio.wait_for(until(), timeout)

    async def wait_connections(self, n: int, timeout: float = 10.0) -> None:
        async def until() -> None:
            while not (self.connections >= n and self._ws is not None and not self._ws.closed):
                await asyncio.sleep(0.01)
        await asyncio.wait_for(until(), timeout)

    def replies_to(self, req_id: str) -> list[str]:
        return [f.body["stream"]["content"] for f in self.frames
                if f.cmd == "aibot_respond_msg" and f.req_id == req_id]

    def pushes(self, chat: str) -> list[str]:
        return [f.body["markdown"]["content"] for f in self.frames
                if f.cmd == "aibot_send_msg" and f.body.get("chatid") == chat]


async def _demo() -> None:
    """The real bot against the fake server: a member signs up, another searches, asks, answers and tips."""
    import tempfile
    from pathlib import Path

    from bot.adapters.wecom import WecomAdapter
    from bot.app import App
    from bot.clock import SystemClock
    from bot.config import parse_config

    fake = FakeWecom()
    url = await fake.start()
    config = parse_config({"communities": [{"id": "growth", "name": "增长学习社", "owners": ["laowang"],
                                            "groups": [{"room": "wrkSFfCgAAxxxx", "size": 30}]}],
                           "pacing": {"min_interval_seconds": 0}}, env={})
    adapter = WecomAdapter(fake.bot_id, fake.secret, url=url)
    with tempfile.TemporaryDirectory() as tmp:
        app = App(config, adapter, SystemClock(), database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}")
        await app.start()
        serving = asyncio.create_task(app.serve())
        await fake.wait_connections(1)
        room = "wrkSFfCgAAxxxx"
        script = [("zhangsan", "@qunbot /登记 城市=北京; 职位=产品经理; 擅长=增长,文案"), ("zhangsan", "@qunbot /同意"),
                  ("lisi", "@qunbot /找人 增长"), ("lisi", "@qunbot /提问 冷启动怎么找种子用户\n没有预算"),
                  ("zhangsan", "@qunbot /回答 Q1 先从身边的目标用户聊起"), ("lisi", "@qunbot /打赏 A1 20 很实用"),
                  ("lisi", "@qunbot /帮助")]
        for user, text in script:
            req_id = await fake.say(user, text, chat=room)
            print(f"\n{user} @ {room}: {text}")
            for reply in await fake.wait_for(lambda req_id=req_id: fake.replies_to(req_id)):
                print("  qunbot:", reply.replace("\n", "\n          "))
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await adapter.close()
        await app.close()
    await fake.stop()


if __name__ == "__main__":
    asyncio.run(_demo())
