"""End to end: qunbot with the wechaty adapter against the real Wechaty puppet service protocol.

The Node gateway (bot/gateway) serves wechaty-puppet-mock through wechaty-puppet-service's PuppetServer on
127.0.0.1; mock members speak, join and leave through the gateway's control channel, and the assertions read what
the mock received from the bot. Needs Node 20 with `npm ci` run in bot/gateway and python-wechaty
(`pip install -e '.[test,wechaty]'`); without them these tests skip, and under CI=true they fail instead.
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.adapters.base import IncomingEvent, MembersEvent
from bot.adapters.wechaty import WechatyAdapter
from bot.app import App
from bot.clock import SystemClock
from tests.conftest import make_config
from tests.gateway import FIXTURE, Gateway, gateway, skip_or_fail  # noqa: F401  (gateway is a fixture)

ROOM = FIXTURE["rooms"][0]["id"]            # growth1@chatroom
OWNER = "wxid_owner"
ZHANGSAN, LISI, WANGWU, ZHAOLIU = "wxid_zhangsan", "wxid_lisi", "wxid_wangwu", "wxid_zhaoliu"
NAMES = {c["id"]: c["name"] for c in FIXTURE["contacts"]}
LOGIN_TIMEOUT_S = 30.0


@pytest.fixture(autouse=True)
def _needs_wechaty() -> None:
    if importlib.util.find_spec("wechaty") is None:
        skip_or_fail("python-wechaty is not installed: pip install -e '.[test,wechaty]'")


class Bot:
    """A running qunbot (App.serve with the wechaty adapter) connected to the gateway."""

    def __init__(self, gw: Gateway, app: App, adapter: WechatyAdapter) -> None:
        self.gw = gw
        self.app = app
        self.adapter = adapter
        self.events: list[IncomingEvent] = []

    async def wait_until(self, predicate, what: str, timeout: float = LOGIN_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; events so far: {self.events}\n"
                                     f"gateway log:\n{self.gw.log_tail()}")
            await asyncio.sleep(0.05)

    async def logged_in(self) -> None:
        """Wait until the bot has handled the member list of the room (it arrives right after login)."""
        await self.wait_until(lambda: any(isinstance(e, MembersEvent) and e.room_id == ROOM for e in self.events),
                              "the bot to log in and list the room's members")

    async def say(self, sender: str, text: str, mentions: tuple[str, ...] = (), *, reply_to: str | None = ROOM,
                  contains: str = "") -> dict[str, Any]:
        """A member says text in the room; wait for the bot's next message to `reply_to` containing `contains`."""
        since = await asyncio.to_thread(self.gw.last_seq)
        await asyncio.to_thread(self.gw.say, ROOM, sender, text, list(mentions))
        return await self.gw.wait_for(lambda m: m["conversationId"] == reply_to and contains in (m.get("text") or ""),
                                      since=since, what=f"a reply to {text!r} containing {contains!r}")


@pytest.fixture
async def bot(gateway: Gateway, db_url: str) -> AsyncIterator[Bot]:
    config = make_config(owners=[OWNER], groups=[{"room": ROOM}], top_welcome_window_seconds=0,
                         top_pacing={"min_interval_seconds": 0})
    adapter = WechatyAdapter(gateway.endpoint, gateway.token, port=0)
    app = App(config, adapter, SystemClock(), database_url=db_url)
    running = Bot(gateway, app, adapter)
    handle = app.handle

    async def recording_handle(event: IncomingEvent) -> None:
        running.events.append(event)
        await handle(event)

    app.handle = recording_handle  # type: ignore[method-assign]
    await app.start()
    serve = asyncio.create_task(app.serve(), name="qunbot-serve")
    try:
        await running.logged_in()
        yield running
        assert not serve.done() or serve.exception() is None, f"serve() stopped: {serve.exception()!r}"
    finally:
        await adapter.close()
        serve.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(serve, 10)
        await app.close()


# ---- the tests ---------------------------------------------------------------------------------------------

async def test_help_in_the_room_is_answered_in_the_room(bot: Bot) -> None:
    reply = await bot.say(ZHANGSAN, "/help", contains="/")
    assert reply["isRoom"] and reply["kind"] == "text"
    assert "/登记" in reply["text"] and "/找人" in reply["text"]


async def test_signup_consent_and_directory_search(bot: Bot) -> None:
    consent = await bot.say(ZHANGSAN, "/signup 城市=北京; 行业=教育; 擅长=增长, 文案", contains="请确认你的资料")
    assert "擅长：增长, 文案" in consent["text"]
    done = await bot.say(ZHANGSAN, "/agree", contains="登记完成")
    assert done["text"].startswith("@张三 登记完成，欢迎！")

    found = await bot.say(LISI, "/找人 增长", contains="相关的成员")
    assert found["text"].startswith("找到 1 位和「增长」相关的成员：\n1. 张三")


async def test_who_with_a_real_mention_shows_that_members_card(bot: Bot) -> None:
    await bot.say(LISI, "/signup 城市=上海; 职位=运营; 擅长=社群", contains="请确认你的资料")
    await bot.say(LISI, "/agree", contains="登记完成")

    card = await bot.say(ZHANGSAN, f"/who @{NAMES[LISI]}", mentions=(LISI,), contains=NAMES[LISI])
    assert "社群" in card["text"] and "上海" in card["text"]


async def test_a_join_gets_a_welcome_mentioning_the_newcomer(bot: Bot) -> None:
    since = await asyncio.to_thread(bot.gw.last_seq)
    await asyncio.to_thread(bot.gw.join, ROOM, ZHAOLIU, ZHANGSAN)
    welcome = await bot.gw.wait_for(lambda m: m["conversationId"] == ROOM and "欢迎" in (m.get("text") or ""),
                                    since=since, what="a welcome")
    assert welcome["text"].startswith(f"欢迎 @{NAMES[ZHAOLIU]} 加入「")
    assert welcome["mentionIds"] == [ZHAOLIU]


async def test_a_private_message_gets_a_private_reply(bot: Bot) -> None:
    since = await asyncio.to_thread(bot.gw.last_seq)
    await asyncio.to_thread(bot.gw.dm, WANGWU, "你好")
    reply = await bot.gw.wait_for(lambda m: m["conversationId"] == WANGWU, since=since, what="a private reply")
    assert not reply["isRoom"]
    assert "/帮助" in reply["text"]
    assert all(m["conversationId"] == WANGWU for m in bot.gw.sent(since))   # nothing went to the room


async def test_a_wrong_token_is_a_clear_error(gateway: Gateway) -> None:
    adapter = WechatyAdapter(gateway.endpoint, "not-the-token", port=0)

    async def ignore(event: IncomingEvent) -> None:
        pass

    with pytest.raises(Exception) as failure:
        await asyncio.wait_for(adapter.run(ignore), 30)
    message = str(failure.value)
    # The service answers UNAUTHENTICATED: 'Invalid Wechaty TOKEN "not-the-token"'; the error names the setting,
    # never the token itself.
    assert "UNAUTHENTICATED" in message and "adapter.wechaty.token" in message, message
    assert "WECHATY_PUPPET_SERVICE_TOKEN" in message, message
    assert "not-the-token" not in message and failure.value.__cause__ is None, message


async def test_the_bot_survives_a_gateway_restart_mid_conversation(bot: Bot) -> None:
    """Kill the puppet service and start it again: the next command is answered, nothing is answered twice."""
    first = await bot.say(ZHANGSAN, "/角色", contains="管理角色")
    logins = sum(isinstance(e, MembersEvent) for e in bot.events)
    await bot.gw.arestart(kill=True)
    await bot.wait_until(lambda: sum(isinstance(e, MembersEvent) for e in bot.events) > logins,
                         "the bot to reconnect and log in again", timeout=60)
    second = await bot.say(LISI, "/help", contains="/找人")
    await asyncio.sleep(0)   # let nothing else slip in unnoticed below
    sent = await asyncio.to_thread(bot.gw.sent)
    roles = [m for m in sent if "管理角色" in (m.get("text") or "")]
    helps = [m for m in sent if "/找人" in (m.get("text") or "") and m["seq"] > first["seq"]]
    assert [m["seq"] for m in roles] == [first["seq"]] and [m["seq"] for m in helps] == [second["seq"]]
