"""`qunbot gateway`: run the Node Wechaty puppet service in bot/gateway (mock puppet or a real account)."""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

GATEWAY_DIR = Path(__file__).resolve().parent / "gateway"
PUPPETS = ("mock", "wechat4u")
STOP_SECONDS = 5.0          # after SIGTERM/SIGINT the gateway gets this long to stop before it is killed


def gateway_command(args: argparse.Namespace, node: str) -> list[str]:
    cmd = [node, str(GATEWAY_DIR / "gateway.js"), "--puppet", args.puppet, "--port", str(args.port),
           "--token", args.token, "--host", args.host]
    if args.fixture:
        cmd += ["--fixture", str(Path(args.fixture).resolve())]
    if args.control_port:
        cmd += ["--control-port", str(args.control_port)]
    if args.record:
        cmd += ["--record", str(Path(args.record).resolve())]
    return cmd


def cmd_gateway(args: argparse.Namespace) -> int:
    node = shutil.which("node")
    if node is None:
        print("qunbot: `qunbot gateway` needs Node.js 20 or newer (`node` is not on PATH)", file=sys.stderr)
        return 2
    if not (GATEWAY_DIR / "gateway.js").is_file():
        print(f"qunbot: the gateway is missing from this installation ({GATEWAY_DIR / 'gateway.js'})", file=sys.stderr)
        return 2
    if not (GATEWAY_DIR / "node_modules" / "wechaty-puppet-service").is_dir():
        print(f"qunbot: the gateway's Node packages are not installed; run: (cd {GATEWAY_DIR} && npm ci)",
              file=sys.stderr)
        return 2
    if args.puppet == "wechat4u" and not (GATEWAY_DIR / "node_modules" / "wechaty-puppet-wechat4u").is_dir():
        print(f"qunbot: --puppet wechat4u needs the package wechaty-puppet-wechat4u; run: "
              f"(cd {GATEWAY_DIR} && npm ci)", file=sys.stderr)
        return 2
    if args.fixture and not Path(args.fixture).is_file():
        print(f"qunbot: no such fixture file: {args.fixture}", file=sys.stderr)
        return 2
    return run_until_stopped(gateway_command(args, node))


class _Stop(Exception):
    """Raised by the signal handler to leave the unbounded wait for the gateway."""


def run_until_stopped(cmd: list[str]) -> int:
    """Run the gateway until it ends. SIGTERM or SIGINT is passed on to it and it is waited for, and killed if it
    has not stopped within STOP_SECONDS, so no gateway is left behind listening on its port."""
    child: subprocess.Popen[bytes] | None = None
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        first, stopping = not stopping, True
        if child is not None:
            child.send_signal(signum)
            if first:
                raise _Stop

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            child = subprocess.Popen(cmd, cwd=os.getcwd())
            if not stopping:
                return child.wait()
            child.terminate()                   # the signal came while it was starting
        except _Stop:
            pass
        assert child is not None                # _Stop is raised only once the gateway runs
        try:
            code = child.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            print(f"qunbot: the gateway did not stop within {STOP_SECONDS:g} s; killed it", file=sys.stderr)
            child.kill()
            child.wait()
            return 1
        return 0 if code <= 0 else code         # < 0: ended by the signal passed on
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "gateway", help="run the Wechaty puppet service (Node) that the wechaty adapter connects to",
        description="Run the bundled Node gateway (bot/gateway; Node 20, `npm ci` there once): a Wechaty puppet "
                    "service without TLS on HOST:PORT that qunbot's wechaty adapter connects to, serving either a "
                    "mock world (for tests and demos, driven through a loopback control channel) or a real WeChat "
                    "account through wechat4u (scan the QR link it prints; an unofficial protocol: use a dedicated "
                    "account). SIGTERM and SIGINT are passed on to it.")
    p.add_argument("--puppet", choices=PUPPETS, default="mock",
                   help="mock: a fixture world for tests and demos; wechat4u: a real WeChat account (scan a QR code)")
    p.add_argument("--port", type=int, required=True, help="gRPC port (qunbot's adapter.wechaty.endpoint)")
    p.add_argument("--token", default=os.environ.get("WECHATY_PUPPET_SERVICE_TOKEN"),
                   required="WECHATY_PUPPET_SERVICE_TOKEN" not in os.environ,
                   help="token clients must send (qunbot's adapter.wechaty.token)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--fixture", default=None, help="mock only: world fixture JSON (default bot/gateway/fixture.json)")
    p.add_argument("--control-port", type=int, default=None,
                   help="mock only: loopback control channel port (default PORT+1)")
    p.add_argument("--record", default=None, help="mock only: append what the bot sends to this JSON Lines file")
    p.set_defaults(func=cmd_gateway)
    return p
