"""Tests cannot reach the network: anything beyond loopback fails with a clear message, loopback still works."""
import asyncio
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import NetworkBlocked

ROOT = Path(__file__).resolve().parents[1]
BEYOND = [("10.255.255.1", 80, "10.255.255.1:80"), ("2001:db8::1", 443, "[2001:db8::1]:443"),
          ("example.com", 80, "example.com:80")]


@pytest.mark.parametrize("host, port, shown", BEYOND)
def test_plain_sockets_cannot_reach_beyond_this_machine(offline, host, port, shown):
    with pytest.raises(NetworkBlocked, match=f"^tests must not reach the network: {re.escape(shown)}$"):
        socket.create_connection((host, port), timeout=1)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        for connect in (sock.connect, sock.connect_ex):
            with pytest.raises(NetworkBlocked, match="tests must not reach the network"):
                connect((host, port))
    assert offline and set(offline) == {shown}
    offline.clear()                     # refused as expected: this test passes


@pytest.mark.parametrize("url, shown", [("http://10.255.255.1/", "10.255.255.1:80"),
                                        ("https://example.com/x", "example.com:443"),
                                        ("http://[2001:db8::1]:8080/", "[2001:db8::1]:8080")])
async def test_aiohttp_cannot_reach_beyond_this_machine(offline, url, shown):
    async with aiohttp.ClientSession() as session:
        with pytest.raises(NetworkBlocked) as refused:
            await session.get(url)
    assert str(refused.value) == f"tests must not reach the network: {shown}"
    offline.clear()


async def test_loopback_and_unix_sockets_still_work(tmp_path, offline):
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    unix = await asyncio.start_unix_server(echo, path=str(tmp_path / "s"))
    try:
        async with aiohttp.ClientSession() as session:
            for host in ("127.0.0.1", "localhost"):
                async with session.get(f"http://{host}:{port}/") as response:
                    assert await response.text() == "hello"
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        reader, writer = await asyncio.open_unix_connection(str(tmp_path / "s"))
        writer.write(b"ping\n")
        assert await reader.readline() == b"ping\n"
        writer.close()
        with socket.socket(socket.AF_INET6) as sock:          # ::1 is let through to the system (closed port here)
            with pytest.raises(OSError):
                sock.connect(("::1", 9))
    finally:
        unix.close()
        await runner.cleanup()
    assert offline == []


def test_a_refusal_the_code_swallowed_still_fails_the_test(tmp_path):
    test = tmp_path / "test_swallowed.py"
    test.write_text(textwrap.dedent("""
        import socket

        from tests.conftest import offline  # noqa: F401  (the guard every test of the suite has)


        def test_reaches_out():
            try:
                socket.create_connection(("10.255.255.1", 80), timeout=1)
            except Exception:
                pass                        # as a reconnect loop would
    """), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 passed, 1 error" in run.stdout
    assert "tests must not reach the network: 10.255.255.1:80" in run.stdout
