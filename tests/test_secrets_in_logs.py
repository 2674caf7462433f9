"""No secret reaches a log line: each adapter runs through connecting, reconnecting and failing while everything
logged is searched for every secret the bot was given — the Wechaty puppet token, the WeCom bot secret, the
callback Token and EncodingAESKey, the group webhook keys — and so are the texts of the errors it raised.

"Everything logged" is what `qunbot -v run` prints: the root logger at DEBUG and every other logger at the level
the bot leaves it (python-wechaty's loggers print through their own stderr handlers without propagating, so here
they propagate too), plus whatever reached stdout and stderr.
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import io
import json
import logging
import time
import traceback
from collections.abc import AsyncIterator, Iterable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.adapters.base import AdapterStopped, MembersEvent
from bot.adapters.wecom import WecomAdapter
from bot.adapters.wecom_callback import WecomCallbackAdapter
from bot.adapters.wecom_crypto import WecomCrypto
from bot.adapters.wecom_webhook import WebhookClient
from bot.app import App
from bot.clock import FakeClock, SystemClock
from bot.config import WecomCallbackConfig
from tests.conftest import START, make_config
from tests.gateway import FIXTURE, Gateway, skip_or_fail
from tests.test_wecom_callback import FakeApp, FakeWecomHttp, Wecom, message
from tests.wecom_fake import FakeWecom

WECHATY_TOKEN = "wx-token-7Hq2Lm"
WRONG_WECHATY_TOKEN = "wx-wrong-Zp4Vb8"
WECOM_SECRET = "wecom-secret-Kd93Jx"
WRONG_WECOM_SECRET = "wecom-wrong-Tq61Rw"
CALLBACK_TOKEN = "cb-token-Yr5Nc2"
AES_KEY = "Q7mZpR2vXc9LkT4sWb8NhJ3dFg6YaE1uVo5CiB0xKe7"        # 43 characters, as the admin console gives it
OTHER_AES_KEY = "b" * 43
UNREACHABLE_KEY = "whk-unreachable-3Xc"
ROOM = FIXTURE["rooms"][0]["id"]


class AllLogs:
    """Everything logged while a test runs, plus the texts of errors the test saw raised."""

    def __init__(self, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
        self.caplog = caplog
        self.capfd = capfd
        self.errors: list[str] = []
        self._opened: list[logging.Logger] = []
        self._output: list[str] = []

    def open_up(self) -> None:
        """Every logger known so far propagates to the capture."""
        for logger in list(logging.root.manager.loggerDict.values()):
            if isinstance(logger, logging.Logger) and not logger.propagate:
                self._opened.append(logger)
                logger.propagate = True

    def restore(self) -> None:
        for logger in self._opened:
            logger.propagate = False

    def error(self, exc: BaseException) -> None:
        """An error the bot raised, with its causes, as a logged traceback would show it."""
        self.errors.append("".join(traceback.format_exception(exc)))

    def text(self) -> str:
        out, err = self.capfd.readouterr()
        self._output += [out, err]
        return "\n".join([self.caplog.text, *self._output, *self.errors])

    def assert_free_of(self, secrets: Iterable[str]) -> None:
        text = self.text()
        assert text.strip(), "nothing was logged: the capture is not working"
        leaked = [s for s in secrets if s in text]
        lines = [line for line in text.splitlines() if any(s in line for s in leaked)]
        assert not leaked, f"secrets {leaked} appear in:\n" + "\n".join(lines[:20])


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]):
    factory = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)    # the adapters themselves must not leak, masking or not
    if importlib.util.find_spec("wechaty") is not None:
        from bot.adapters.wechaty import _import_wechaty

        _import_wechaty()                             # its loggers exist from import on
    logs = AllLogs(caplog, capfd)
    caplog.set_level(logging.DEBUG)
    logs.open_up()
    try:
        yield logs
    finally:
        logs.restore()
        logging.setLogRecordFactory(factory)


async def wait_until(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def serving(app: App) -> AsyncIterator[None]:
    """The bot running (App.serve, its adapter supervised) until the block ends."""
    await app.start()
    task = asyncio.create_task(app.serve())
    try:
        yield
    finally:
        await asyncio.wait_for(stopped(app, task), 30)
        await app.close()


async def stopped(app: App, serving: asyncio.Task) -> None:
    """Stop serve() by closing its adapter, as often as it takes: a close() while the supervisor waits between two
    starts does not stop the next one. (Cancelling serve() could cut a database call short, leaving a connection
    whose close never completes when the test's event loop shuts down.)"""
    while not serving.done():
        await app.adapter.close()
        await asyncio.wait({serving}, timeout=1)
    serving.result()


async def served_until_it_gives_up(app: App, timeout: float) -> BaseException:
    """Run the bot until it stops on its own (its adapter failed for good); the error it stopped with."""
    await app.start()
    try:
        with pytest.raises(Exception) as failure:
            await asyncio.wait_for(app.serve(), timeout)
    finally:
        await app.adapter.close()
        await app.close()
    return failure.value


# ---- wechaty: connect, the gateway restarting, a wrong token ---------------------------------------------------

async def test_the_wechaty_token_is_not_logged_connecting_reconnecting_or_refused(all_logs, tmp_path, db_url):
    from bot.adapters.wechaty import WechatyAdapter

    if importlib.util.find_spec("wechaty") is None:
        skip_or_fail("python-wechaty is not installed: pip install -e '.[test,wechaty]'")
    gateway = Gateway(tmp_path, token=WECHATY_TOKEN)
    await asyncio.to_thread(gateway.start)
    try:
        config = make_config(groups=[{"room": ROOM}], top_adapter={
            "type": "wechaty", "retry_max_seconds": 1,
            "wechaty": {"endpoint": gateway.endpoint, "token": WECHATY_TOKEN}})
        app = App(config, WechatyAdapter(gateway.endpoint, WECHATY_TOKEN), SystemClock(), database_url=db_url)
        logins: list[MembersEvent] = []
        handle = app.handle

        async def recording_handle(event):
            if isinstance(event, MembersEvent) and event.room_id == ROOM:
                logins.append(event)
            return await handle(event)

        app.handle = recording_handle                           # type: ignore[method-assign]
        async with serving(app):
            await wait_until(lambda: len(logins) == 1, "the bot to log in")
            await gateway.arestart(kill=True)
            await wait_until(lambda: len(logins) == 2, "the bot to reconnect and log in again")

        refused = make_config(groups=[{"room": ROOM}], top_adapter={
            "type": "wechaty", "max_failures": 1,
            "wechaty": {"endpoint": gateway.endpoint, "token": WRONG_WECHATY_TOKEN}})
        failure = await served_until_it_gives_up(
            App(refused, WechatyAdapter(gateway.endpoint, WRONG_WECHATY_TOKEN), SystemClock(), database_url=db_url),
            60)
    finally:
        await asyncio.to_thread(gateway.stop)
    assert "adapter.wechaty.token" in str(failure), str(failure)        # it still says what to check
    all_logs.error(failure)
    all_logs.assert_free_of([WECHATY_TOKEN, WRONG_WECHATY_TOKEN])


# ---- WeCom's long connection: connect, a dropped connection, a refused secret ---------------------------------

async def test_the_wecom_secret_is_not_logged_connecting_reconnecting_or_refused(all_logs, db_url):
    fake = FakeWecom(secret=WECOM_SECRET)
    url = await fake.start()
    try:
        config = make_config(groups=[{"room": "wrkGROUP", "size": 30}], top_adapter={
            "type": "wecom", "retry_max_seconds": 0.05,
            "wecom": {"bot_id": fake.bot_id, "secret": WECOM_SECRET, "url": url}})
        app = App(config, WecomAdapter(fake.bot_id, WECOM_SECRET, url=url), SystemClock(), database_url=db_url)
        async with serving(app):
            await fake.wait_connections(1)
            req_id = await fake.say("zhangsan", "@qunbot /积分", chat="wrkGROUP")
            await fake.wait_for(lambda: fake.replies_to(req_id))
            await fake.drop()
            await fake.wait_connections(2)
            req_id = await fake.say("zhangsan", "@qunbot /积分", chat="wrkGROUP")
            await fake.wait_for(lambda: fake.replies_to(req_id))             # connected again

        refused = await served_until_it_gives_up(
            App(config, WecomAdapter(fake.bot_id, WRONG_WECOM_SECRET, url=url), SystemClock(), database_url=db_url),
            10)
    finally:
        await fake.stop()
    assert isinstance(refused, AdapterStopped) and "adapter.wecom.secret" in str(refused)
    all_logs.error(refused)
    all_logs.assert_free_of([WECOM_SECRET, WRONG_WECOM_SECRET])


# ---- WeCom's callback: URL check, messages, forgeries ----------------------------------------------------------

async def test_the_callback_token_and_key_are_not_logged(all_logs):
    http = FakeWecomHttp()
    http_server = TestServer(http.app())
    await http_server.start_server(access_log=None)     # WeCom's side: its request log is not the bot's
    http.base = str(http_server.make_url("")).rstrip("/")
    clock = FakeClock(START)
    adapter = WecomCallbackAdapter(WecomCallbackConfig(token=CALLBACK_TOKEN, encoding_aes_key=AES_KEY),
                                   webhook_url=http.webhook_url, clock=clock.now)
    on_event = FakeApp()
    on_event.adapter = adapter
    on_event.answer_now["/帮助"] = "命令列表"
    client = TestClient(TestServer(adapter.web_app(on_event)))
    await client.start_server()
    crypto = WecomCrypto(CALLBACK_TOKEN, AES_KEY)
    wecom = Wecom(client, crypto, clock.now)
    try:
        assert (await wecom.verify_url("echo-1")).status == 200
        assert (await wecom.verify_url("echo-1", signature="0" * 40)).status == 403
        assert (await wecom.verify_url("echo-1", timestamp="946684800")).status == 403       # signed in 2000
        timestamp = wecom.timestamp()
        assert (await client.get("/wecom/callback", params={                               # does not decrypt
            "msg_signature": crypto.signature(timestamp, "n1", "AAAA"), "timestamp": timestamp, "nonce": "n1",
            "echostr": "AAAA"})).status == 400
        answered = await wecom.post(message("m1", "/帮助", response_url=http.response_url("r1")))
        assert wecom.open(await answered.json(), answered.nonce)["stream"]["content"] == "命令列表"
        assert (await wecom.post(message("m2", "/帮助", response_url=http.response_url("r2")),
                                 signature="f" * 40)).status == 403
        assert (await wecom.post("{}", crypto=WecomCrypto(CALLBACK_TOKEN, OTHER_AES_KEY))).status == 400
        assert (await wecom.post("{}", raw=b"not json")).status == 400
        assert (await wecom.post("{'msgid': ")).status == 400
        assert (await wecom.post(message("m3", "/帮助", response_url=http.response_url("r3")),
                                 timestamp="946684800")).status == 403
    finally:
        await client.close()
        await adapter.close()
        await http_server.close()
    all_logs.assert_free_of([CALLBACK_TOKEN, AES_KEY])


# ---- group robot webhooks: success and every kind of failure ---------------------------------------------------

class Webhook:
    """WeCom's group robot endpoint; what it does depends on the key (each key is one way of answering)."""

    BEHAVIOURS = ("ok", "refused", "bad key", "rate limited", "http 502", "not json", "redirect loop", "hang")

    def __init__(self) -> None:
        self.keys = {f"whk-{n}-{behaviour.replace(' ', '')}-9sQ": behaviour
                     for n, behaviour in enumerate(self.BEHAVIOURS)}
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        behaviour = self.keys[request.query["key"]]
        if behaviour == "ok":
            return web.json_response({"errcode": 0, "errmsg": "ok"})
        if behaviour in ("refused", "bad key", "rate limited"):
            code = {"refused": 40008, "bad key": 93000, "rate limited": 45009}[behaviour]
            return web.json_response({"errcode": code, "errmsg": "no"})
        if behaviour == "http 502":
            return web.Response(status=502)
        if behaviour == "not json":
            return web.Response(text="<html>gateway</html>")
        if behaviour == "redirect loop":
            raise web.HTTPTemporaryRedirect(location=str(request.url))
        await self.release.wait()
        return web.json_response({"errcode": 0})


async def test_webhook_keys_are_not_logged_nor_in_send_errors(all_logs, unused_tcp_port):
    webhook = Webhook()
    app = web.Application()
    app.router.add_post("/cgi-bin/webhook/send", webhook.handle)
    server = TestServer(app)
    await server.start_server(access_log=None)            # WeCom's side: its request log is not the bot's
    try:
        async with aiohttp.ClientSession() as session:
            client = WebhookClient(session, str(server.make_url("/cgi-bin/webhook/send")), timeout=0.5)
            unreachable = WebhookClient(session, f"http://127.0.0.1:{unused_tcp_port}/cgi-bin/webhook/send")
            outcomes: dict[str, Any] = {}
            for key, behaviour in webhook.keys.items():
                try:
                    await client.send_markdown(key, "🏆 上周分享排行")
                    outcomes[behaviour] = "sent"
                except Exception as exc:                  # what the outbox logs and stores for the message
                    outcomes[behaviour] = type(exc).__name__
                    all_logs.error(exc)
                    logging.getLogger("bot.outbox").warning("send to room:r1 failed (%s)", exc)
            with pytest.raises(Exception) as down:
                await unreachable.send_markdown(UNREACHABLE_KEY, "排行")
            all_logs.error(down.value)
    finally:
        webhook.release.set()
        await server.close()
    assert outcomes["ok"] == "sent" and all(outcomes[b] != "sent" for b in Webhook.BEHAVIOURS[1:]), outcomes
    all_logs.assert_free_of([*webhook.keys, UNREACHABLE_KEY])


# ---- the second line of defence: `qunbot run` masks every configured secret ------------------------------------

@pytest.fixture
def record_factory():
    factory = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(factory)


@pytest.mark.sqlite_only
def test_qunbot_run_masks_every_configured_secret_also_for_handlers_added_later(
        record_factory, tmp_path, monkeypatch, unused_tcp_port):
    from bot.cli import main
    from bot.config import ENV_OVERRIDES

    for variable in ENV_OVERRIDES:
        monkeypatch.delenv(variable, raising=False)
    secrets = [WECHATY_TOKEN, WECOM_SECRET, CALLBACK_TOKEN, AES_KEY, "whk-group-1-8Rt", "whk-group-2-4Mn",
               "db-p@ss-Wq7", "db-p%40ss-Wq7"]                      # the password as a driver sees it, and as written
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({                                   # JSON is YAML
        "database": {"url": "postgresql+asyncpg://qunbot:db-p%40ss-Wq7@127.0.0.1/qunbot"},
        "adapter": {"type": "wecom", "max_failures": 1, "wechaty": {"token": WECHATY_TOKEN},
                    "wecom": {"bot_id": "bot-1", "secret": WECOM_SECRET, "url": f"ws://127.0.0.1:{unused_tcp_port}/",
                              "callback": {"token": CALLBACK_TOKEN, "encoding_aes_key": AES_KEY}}},
        "communities": [{"id": "growth", "name": "增长学习社", "owners": ["laowang"], "groups": [
            {"room": "wrGROUP1", "webhook_key": "whk-group-1-8Rt"},
            {"room": "wrGROUP2", "webhook_key": "whk-group-2-4Mn"}]}],
    }), encoding="utf-8")
    # WeCom is not there: the bot gives up after its one allowed failure, with logging set up as in production.
    assert main(["-v", "run", "--config", str(config), "--db", f"sqlite+aiosqlite:///{tmp_path / 'q.db'}"]) == 1

    # A library imported later, with its own handler and no propagation, as python-wechaty sets up its loggers.
    printed = io.StringIO()
    library = logging.getLogger("tests.library_imported_later")
    library.addHandler(logging.StreamHandler(printed))
    library.propagate = False
    try:
        for secret in secrets:
            library.warning("there are endpoint<127.0.0.1:8788> and token<%s>", secret)
            try:
                raise RuntimeError(f'Invalid Wechaty TOKEN "{secret}"')
            except RuntimeError:
                library.exception("starting failed")
    finally:
        library.handlers.clear()
    assert printed.getvalue().count("token<***>") == len(secrets)
    assert printed.getvalue().count('TOKEN "***"') == len(secrets)
    assert not [s for s in secrets if s in printed.getvalue()], printed.getvalue()
