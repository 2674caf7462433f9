"""The whole bot behind WeCom's callback URL: a week of the community through signed, encrypted callbacks,
replies passive or through response_url, and the weekly ranking posted through the group's robot webhook."""
from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.adapters.wecom_callback import WecomCallbackAdapter
from bot.adapters.wecom_crypto import WecomCrypto
from bot.app import App
from bot.clock import FakeClock
from tests.conftest import START, make_config, sh
from tests.test_wecom_callback import AES_KEY, GROUP, KEY, TOKEN, FakeWecomHttp, Wecom, fake, message  # noqa: F401

# ---- the whole bot behind the callback -------------------------------------------------------------------

class Deployment:
    """The real App behind the callback adapter, on a FakeClock; WeCom's side signs and posts the messages."""

    def __init__(self, app: App, adapter: WecomCallbackAdapter, wecom: Wecom, fake: FakeWecomHttp,
                 clock: FakeClock) -> None:
        self.app, self.adapter, self.wecom, self.fake, self.clock = app, adapter, wecom, fake, clock
        self.send_now = True        # the serve loop's round right after the handler (production: app.wake())
        self._n = 0
        self.handled: dict[str, asyncio.Event] = {}

    def _done(self, event_id: str) -> asyncio.Event:
        return self.handled.setdefault(event_id, asyncio.Event())

    async def handle(self, event) -> bool:
        answered = await self.app.handle(event)
        if self.send_now:
            await self.app.run_due(self.clock.now())
        self._done(event.event_id).set()
        return answered

    async def say(self, text: str, user: str) -> str:
        """Post a message as WeCom would; the reply it got, passive or through the response_url."""
        self.clock.advance(seconds=10)
        self._n += 1
        code = f"rc{self._n}"
        resp = await self.wecom.post(message(f"msg{self._n}", text, response_url=self.fake.response_url(code),
                                             user=user))
        assert resp.status == 200
        if await resp.read():
            return self.wecom.open(await resp.json(), resp.nonce)["stream"]["content"]
        await asyncio.wait_for(self._done(f"wecom:msg{self._n}").wait(), 10)   # handled in its own task
        await self.app.run_due(self.clock.now())
        return "\n".join(body["markdown"]["content"] for c, body in self.fake.responses if c == code)


@pytest.fixture
async def deployment(fake, db_url):
    config = make_config(
        groups=[{"room": GROUP, "webhook_key": KEY}],
        top_adapter={"type": "wecom", "wecom": {"mode": "callback", "webhook_url": fake.webhook_url, "callback": {
            "token": TOKEN, "encoding_aes_key": AES_KEY, "passive_reply_seconds": 4}}})
    clock = FakeClock(START)
    adapter = WecomCallbackAdapter.from_config(config, clock=clock.now)
    app = App(config, adapter, clock, database_url=db_url)
    await app.start()
    assert app.pacing.max_bytes == 4096 and app.pacing.per_minute == 20     # the adapter's limits apply
    d = Deployment(app, adapter, None, fake, clock)                        # type: ignore[arg-type]
    client = TestClient(TestServer(adapter.web_app(d.handle)))
    await client.start_server()
    d.wecom = Wecom(client, WecomCrypto(TOKEN, AES_KEY), clock.now)
    yield d
    await client.close()
    await adapter.close()
    await app.close()


async def test_a_week_of_the_community_through_wecom_callbacks(deployment):
    d = deployment
    consent = await d.say("/登记 城市=北京; 擅长=增长", "zhangsan")
    assert "/同意" in consent or "/agree" in consent                        # flows run in the group here
    assert "登记完成" in await d.say("/同意", "zhangsan")
    assert "找到 1 位" in await d.say("/找人 增长", "lisi")
    assert "已登记问题 Q1" in await d.say("/提问 如何做用户增长\n我们是教育 SaaS", "zhangsan")
    assert "A1" in await d.say("/回答 Q1 先做转介绍", "wangwu")
    d.send_now = False                                                      # a slow round: via response_url
    d.adapter.passive_reply_seconds = 0.05
    tipped = await d.say("/打赏 A1 10", "zhangsan")
    assert "打赏了" in tipped
    assert [c for c, _ in d.fake.responses] == ["rc6"]
    assert d.fake.webhook == []

    d.clock.set(sh("2026-11-30T09:30:00"))                                 # past Monday 09:00
    await d.app.run_due(d.clock.now())
    for _ in range(5):                                                      # anything still paced
        d.clock.advance(seconds=5)
        await d.app.sender.send_due(d.clock.now())
    posts = [body["markdown"]["content"] for key, body in d.fake.webhook if key == KEY]
    assert any("上周分享排行" in p and "wangwu" in p for p in posts), posts


@pytest.mark.parametrize("chat, text", [
    ("OTHER_GROUP", "/排行"),                  # a group the bot does not serve
    (GROUP, "大家好"),                          # ordinary chat that @-mentions the bot
])
async def test_what_the_bot_will_not_answer_gets_an_empty_answer_at_once(deployment, chat, text):
    d = deployment
    started = time.monotonic()
    resp = await d.wecom.post(message("quiet-1", text, response_url=d.fake.response_url("q1"), chat=chat))
    assert resp.status == 200 and await resp.read() == b""
    assert time.monotonic() - started < 2, "held for the passive-reply window (4 s)"
    assert d.fake.responses == [] and d.fake.webhook == []
