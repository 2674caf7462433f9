"""`qunbot run` with the wechaty adapter when something it needs is not there: python-wechaty not installed stops
at once (exit 2, with the install command); a puppet service nobody started is one line of ours naming the
endpoint and how to start `qunbot gateway`, logged once however often the bot retries, without python-wechaty's
own noise."""
from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import socket
import sys
import time
from collections.abc import Iterator

import pytest

from bot.adapters import wechaty as wx
from bot.adapters.wechaty import WechatyAdapter
from bot.app import App
from bot.clock import SystemClock
from bot.config import ENV_OVERRIDES
from tests.conftest import make_config
from tests.gateway import skip_or_fail

OUR_LOGGERS = ("qunbot", "bot.")


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that is bound, so nothing else takes it, but refuses connections (nobody listens)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@pytest.fixture
def every_logger_propagates() -> Iterator[None]:
    """python-wechaty's loggers print through their own handlers without propagating; here they reach caplog."""
    opened = []
    for logger in list(logging.root.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and not logger.propagate:
            logger.propagate = True
            opened.append(logger)
    try:
        yield
    finally:
        for logger in opened:
            logger.propagate = False


def test_qunbot_run_without_python_wechaty_stops_at_once_with_the_install_command(tmp_path, monkeypatch, capsys):
    from bot.cli import main

    for variable in ENV_OVERRIDES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setitem(sys.modules, "wechaty", None)      # `import wechaty` fails as with the package missing
    db = tmp_path / "qunbot.db"
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({
        "database": {"url": f"sqlite:///{db}"},
        "adapter": {"type": "wechaty", "wechaty": {"endpoint": "127.0.0.1:8788"}},
        "communities": [{"id": "growth", "name": "增长学习社", "owners": ["wxid_owner"]}],
    }), encoding="utf-8")
    factory = logging.getLogRecordFactory()
    try:
        assert main(["run", "--config", str(config)]) == 2
    finally:
        logging.setLogRecordFactory(factory)               # `qunbot run` installs its secret masking
    err = capsys.readouterr().err
    assert err.startswith("qunbot: the wechaty adapter needs python-wechaty 0.10.7"), err
    assert "pip install -e '.[wechaty]'" in err and "Traceback" not in err
    assert not db.exists()                                 # it stopped before opening anything


@pytest.mark.usefixtures("every_logger_propagates")
async def test_an_unreachable_puppet_service_is_one_line_naming_the_endpoint_and_the_gateway(
        closed_port, db_url, caplog):
    if importlib.util.find_spec("wechaty") is None:
        skip_or_fail("python-wechaty is not installed: pip install -e '.[test,wechaty]'")
    endpoint = f"127.0.0.1:{closed_port}"
    adapter = WechatyAdapter(endpoint, "local-token")
    app = App(make_config(top_adapter={"type": "wechaty", "retry_max_seconds": 0.05}), adapter, SystemClock(),
              database_url=db_url)
    caplog.set_level(logging.DEBUG)
    await app.start()
    serving = asyncio.create_task(app.serve())
    try:
        deadline = time.monotonic() + 30
        while sum("still down" in r.getMessage() for r in caplog.records) < 3:   # it keeps retrying
            assert time.monotonic() < deadline and not serving.done(), caplog.text
            await asyncio.sleep(0.05)
    finally:
        app.stop()
        await asyncio.wait_for(serving, 20)
        await app.close()

    told = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(told) == 1, [r.getMessage() for r in told]
    line = told[0].getMessage()
    assert told[0].name.startswith(OUR_LOGGERS)
    assert f"the wechaty puppet service at {endpoint} is not reachable (connection refused)" in line
    assert f"qunbot gateway --puppet mock --port {closed_port} --token <token>" in line
    assert "adapter.wechaty.endpoint" in line and "local-token" not in line
    theirs = [f"{r.name}: {r.getMessage()}" for r in caplog.records
              if r.levelno >= logging.INFO and not r.name.startswith((*OUR_LOGGERS, "alembic"))]
    assert theirs == []
    assert "ping endpoint" not in caplog.text and "there are two" not in caplog.text


async def test_the_reachability_check_passes_once_the_service_listens(closed_port):
    adapter = WechatyAdapter(f"127.0.0.1:{closed_port}", "local-token")
    with pytest.raises(wx.ServiceUnreachable):
        await adapter._check_reachable()

    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        await WechatyAdapter(f"127.0.0.1:{port}", "local-token")._check_reachable()


@pytest.mark.usefixtures("every_logger_propagates")
def test_python_wechatys_warnings_that_say_nothing_are_dropped(caplog):
    if importlib.util.find_spec("wechaty") is None:
        skip_or_fail("python-wechaty is not installed: pip install -e '.[test,wechaty]'")
    wx.check_installed()
    service_log = logging.getLogger("PuppetService")       # wechaty_puppet_service.puppet logs as this
    with caplog.at_level(logging.DEBUG):
        service_log.warning("there are two endpoints from options<127.0.0.1:8788> and environment<127.0.0.1:8788>, "
                            "and the first one is adopted")
        service_log.warning("there are two tokens from options[adopted]<local-token> and environment<local-token>, "
                            "and the first one is adopted")
        service_log.warning("there are endpoint<127.0.0.1:8788> and token<local-token>, and the endpoint will be "
                            "used for service ...")
        service_log.warning("room_qr_code() <room_id: %s> param is missing", "r1@chatroom")
        logging.getLogger("wechaty.plugin").warning("there is not registed blueprint in the plugins, so bot will "
                                                    "not start the web service")
        logging.getLogger("Accessory").warning("<%s> set payload more than once", "Room <other@chatroom - 别的群>")
    assert [r.getMessage() for r in caplog.records if r.name in ("PuppetService", "wechaty.plugin", "Accessory")] == [
        "room_qr_code() <room_id: r1@chatroom> param is missing"]
