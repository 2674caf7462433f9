"""The `qunbot` command: run, simulate, console, db."""
from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import signal
import sys
from collections.abc import Coroutine, Iterable
from typing import TextIO

from bot.adapters.base import Adapter
from bot.clock import Clock, SystemClock
from bot.config import Config, ConfigError, load_config
from bot.gateway_cli import add_parser as add_gateway_parser
from bot.redaction import config_secrets, mask_secrets_in_logs

log = logging.getLogger("qunbot")
CONSOLE_DB = "sqlite+aiosqlite:///qunbot-console.db"


def _load(path: str) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"qunbot: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _database(args: argparse.Namespace) -> str | None:
    """--db as the bot connects with it (sqlite:///… and postgresql://… work as typed); exits 2 naming --db when
    qunbot cannot use it."""
    from models.db import DatabaseUrlError, database_url

    if args.db is None:
        return None
    try:
        return database_url(args.db)
    except DatabaseUrlError as exc:
        print(f"qunbot: --db: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _run_async(args: argparse.Namespace, main: Coroutine) -> int:
    """Run the command's coroutine; a database that cannot be opened is one line naming its setting, exit 1."""
    from models.db import DatabaseUnavailable

    try:
        asyncio.run(main)
    except DatabaseUnavailable as exc:
        print(f"qunbot: {'--db' if args.db else 'database.url'}: {exc}", file=sys.stderr)
        return 1
    return 0


def _logging(verbose: bool, stream: TextIO = sys.stderr, secrets: Iterable[str] = ()) -> None:
    """Log to stderr; `secrets` are masked in every line, also in those of handlers libraries add later."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=stream,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    mask_secrets_in_logs(secrets)


def cmd_simulate(args: argparse.Namespace) -> int:
    from bot.simulate import ScriptError, parse_script, simulate

    config = _load(args.config)
    database_url = _database(args)
    try:
        with open(args.script, encoding="utf-8-sig") as fh:   # a BOM (Windows editors) is not an error
            events = parse_script(fh.read())
    except OSError as exc:
        print(f"qunbot: cannot read {args.script}: {exc.strerror}", file=sys.stderr)
        return 2
    except ScriptError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.ERROR, stream=sys.stderr)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(encoding="utf-8")
    code = _run_async(args, simulate(config, events, sys.stdout, database_url=database_url))
    try:
        sys.stdout.flush()
    except BrokenPipeError:              # the reader left early (`| head`): no traceback at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return code


def cmd_console(args: argparse.Namespace) -> int:
    from bot.adapters.console import run_console

    config = _load(args.config)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr)
    # `qunbot console` plays with its own database: its clock can be moved ahead, which must not touch the
    # real bot's data. `qunbot run` with adapter.type console is the real thing and uses config.yaml's.
    database_url = _database(args) or (CONSOLE_DB if args.command == "console" else None)
    return _run_async(args, run_console(config, database_url=database_url))


def cmd_run(args: argparse.Namespace) -> int:
    config = _load(args.config)
    database_url = _database(args)
    kind = config.adapter.type
    if kind == "console":
        return cmd_console(args)
    if kind == "simulate":
        print("qunbot: adapter.type 'simulate' is for `qunbot simulate --script FILE`", file=sys.stderr)
        return 2
    _logging(args.verbose, secrets=config_secrets(config, args.db))
    from bot.adapters.base import AdapterStopped
    from bot.app import App

    clock = SystemClock()                               # one clock for the bot and its platform
    try:
        adapter = _platform_adapter(config, clock)
    except (AdapterStopped, ValueError) as exc:
        print(f"qunbot: {exc}", file=sys.stderr)
        return 2

    async def main() -> None:
        app = App(config, adapter, clock, database_url=database_url)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):     # systemctl stop, docker stop, Ctrl-C: wind down
            loop.add_signal_handler(sig, app.stop, sig.name)
        try:
            await app.start()
            log.info("qunbot is running with the %s adapter", kind)
            await app.serve()
        finally:
            await adapter.close()
            await app.close()

    try:
        return _run_async(args, main())
    except KeyboardInterrupt:                           # Ctrl-C before the bot was listening for it
        return 0
    except AdapterStopped:                              # refused for good (logged): restarting cannot help
        return 2
    except Exception as exc:
        log.error("the %s adapter stopped: %s", kind, exc)
        return 1


def _platform_adapter(config: Config, clock: Clock) -> Adapter:
    """The adapter config.yaml names, built from its settings (a missing setting raises with its name)."""
    if config.adapter.type == "wecom":
        wecom = config.adapter.wecom
        if wecom.mode == "callback":
            from bot.adapters.wecom_callback import WecomCallbackAdapter

            return WecomCallbackAdapter.from_config(config, clock=clock.now)
        from bot.adapters.wecom import WecomAdapter

        return WecomAdapter(wecom.bot_id, wecom.secret, url=wecom.url, heartbeat_seconds=wecom.heartbeat_seconds,
                            clock=clock.now)
    from bot.adapters.wechaty import WechatyAdapter, WechatyConfigError, check_installed

    check_installed()       # a missing package stops here (exit 2), not in the supervisor's retries
    try:
        return WechatyAdapter(config.adapter.wechaty.endpoint, config.adapter.wechaty.token,
                              port=config.adapter.wechaty.port, clock=clock)
    except WechatyConfigError as exc:
        raise ValueError(str(exc)) from None


def cmd_db(args: argparse.Namespace) -> int:
    from models.db import create_engine, current_revision, startup_lock, upgrade

    config = _load(args.config)
    url = _database(args) or config.database.url

    async def main() -> None:
        engine = create_engine(url)
        try:
            async with startup_lock(engine):            # bots may be starting on this database right now
                if args.action == "upgrade":
                    await upgrade(engine)
                revision = await current_revision(engine)
            print(revision or "(empty)")
        finally:
            await engine.dispose()

    return _run_async(args, main())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qunbot", description="Runs a learning community in group chats.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", default="config.yaml", help="path to config.yaml")
        p.add_argument("--db", default=None, help="database URL (overrides config.yaml)")

    p = sub.add_parser("run", help="start the bot with the adapter config.yaml names")
    common(p)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("simulate", help="play a scripted conversation on simulated time (JSONL in and out)")
    common(p)
    p.add_argument("--script", required=True, help="JSON Lines script")
    p.set_defaults(func=cmd_simulate)
    p = sub.add_parser("console", help="chat with the bot in this terminal as any member")
    common(p)
    p.set_defaults(func=cmd_console)
    p = sub.add_parser("db", help="database schema")
    common(p)
    p.add_argument("action", choices=["upgrade", "current"])
    p.set_defaults(func=cmd_db)
    add_gateway_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
