"""The `qunbot` command: run, simulate, console, db, backup, restore, gateway."""
from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import signal
import sys
from collections.abc import Coroutine, Iterable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
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
    from bot.transcript import Transcript, wants_color

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
    renderer = Transcript(config, color=wants_color(sys.stdout)) if args.format == "chat" else None
    code = _run_async(args, simulate(config, events, sys.stdout, database_url=database_url, renderer=renderer))
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
                              port=config.adapter.wechaty.port, clock=clock,
                              read_images=any(c.hygiene.spam.enabled and c.hygiene.spam.qr_codes
                                              for c in config.communities))
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


def cmd_export(args: argparse.Namespace) -> int:
    from bot.clock import SystemClock
    from bot.errors import CommandError
    from bot.i18n import t
    from handlers.exports import summary, write_export
    from models import Community
    from models.db import create_engine, sessionmaker

    config = _load(args.config)
    url = _database(args) or config.database.url
    community_id = args.community or config.communities[0].id
    if not config.has_community(community_id):
        print(f"qunbot: export: no community '{community_id}' in {args.config}", file=sys.stderr)
        return 2
    failed: list[str] = []

    async def main() -> None:
        from bot.commands import CommandTable
        from bot.context import Runtime
        from bot.lookups import Lookups

        engine = create_engine(url)
        clock = SystemClock()
        try:
            sessions = sessionmaker(engine, account=config.account)
            runtime = Runtime(config=config, clock=clock, sessions=sessions, capabilities=frozenset(),
                              pacing=config.pacing, commands=CommandTable(()),
                              lookups=Lookups(sessions, config, clock), wake=lambda: None)
            async with sessions() as db:
                if await db.get(Community, community_id) is None:      # the bot never ran on this database
                    failed.append(t(config.community_locale(config.community(community_id)), "export.nothing"))
                    return
                ctx = await runtime.context(db, community_id, cause="cli:export")
                try:
                    print(summary(ctx, await write_export(ctx, Path(args.out or config.exports_dir))))
                except CommandError as exc:
                    failed.append(t(ctx.locale, exc.key, **exc.params))
        finally:
            await engine.dispose()

    code = _run_async(args, main())
    if failed:
        print(f"qunbot: export: {failed[0]}", file=sys.stderr)
        return 1
    return code


PG_PASSWORD = "the password is asked for, or taken from PGPASSWORD or ~/.pgpass"


def cmd_backup(args: argparse.Namespace) -> int:
    from models.backup import BackupError, backup_sqlite, pg_dump_command, sqlite_path
    from models.db import is_sqlite

    config = _load(args.config)
    url = _database(args) or config.database.url
    if not is_sqlite(url):
        print(f"qunbot: backup copies SQLite databases; back up PostgreSQL with pg_dump ({PG_PASSWORD}):\n"
              f"  {pg_dump_command(url, args.path)}", file=sys.stderr)
        return 2
    try:
        written = backup_sqlite(sqlite_path(url), Path(args.path), force=args.force)
    except BackupError as exc:
        print(f"qunbot: backup: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {written.path}: {written}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from models.backup import BackupError, pg_restore_command, restore_sqlite, sqlite_path
    from models.db import DatabaseUnavailable, is_sqlite

    config = _load(args.config)
    url = _database(args) or config.database.url
    if not is_sqlite(url):
        print(f"qunbot: restore replaces SQLite databases; for PostgreSQL stop the bot, restore the pg_dump file "
              f"with pg_restore ({PG_PASSWORD}) and start the bot, which migrates an older schema:\n"
              f"  {pg_restore_command(url, args.path)}", file=sys.stderr)
        return 2
    try:
        restored = asyncio.run(restore_sqlite(url, Path(args.path), now=datetime.now(UTC)))
    except BackupError as exc:
        print(f"qunbot: restore: {exc}", file=sys.stderr)
        return 1
    except DatabaseUnavailable as exc:
        print(f"qunbot: {'--db' if args.db else 'database.url'}: {exc}", file=sys.stderr)
        return 1
    line = f"restored {sqlite_path(url)} from {restored.backup.path} ({restored.backup})"
    if restored.migrated_to:
        line += f", migrated to schema revision {restored.migrated_to}"
    if restored.set_aside:
        line += f"; the previous database is kept as {restored.set_aside}"
    print(line)
    return 0


DESCRIPTION = """\
qunbot runs a learning community (学习型社群) inside WeChat and WeCom group chats: member profiles and a
searchable directory, a weekly Q&A session, points tipping, an open fund ledger and a weekly ranking, all driven
by slash-commands in the group (/帮助 lists them)."""

EPILOG = """\
Try it without any chat account:
  qunbot simulate --config config.yaml --script examples/demo.jsonl --format chat"""


def package_version() -> str:
    """The installed qunbot's version (from its package metadata)."""
    try:
        return version("qunbot")
    except PackageNotFoundError:         # run from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The `qunbot` command line: every subcommand with its description and options."""
    parser = argparse.ArgumentParser(prog="qunbot", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=summary, description=description)
        p.add_argument("--config", default="config.yaml", help="path to config.yaml (default: %(default)s)")
        p.add_argument("--db", default=None, metavar="URL",
                       help="database URL, e.g. sqlite:///qunbot.db or postgresql://user:pass@host/db "
                            "(overrides database.url in config.yaml)")
        return p

    p = add("run", "start the bot with the adapter config.yaml names",
            "Start the bot on the platform config.yaml names in adapter.type (console, wechaty or wecom; "
            "QUNBOT_ADAPTER overrides it), migrating the database first. Runs until SIGTERM or SIGINT, then "
            "finishes what is in hand and exits 0.")
    p.set_defaults(func=cmd_run)
    p = add("simulate", "play a scripted conversation on simulated time",
            "Play a scripted conversation (JSON Lines: messages, joins, leaves, member lists, ticks, restarts) on "
            "simulated time, running scheduled jobs on the way, and print everything the bot sent: one JSON "
            "object per line (the default), or a chat transcript with the members' messages among the bot's "
            "(--format chat). A malformed script exits 2 with 'line N: reason' and prints nothing. The default "
            "database is a temporary SQLite file, deleted at exit.")
    p.add_argument("--script", required=True, metavar="FILE", help="the conversation, JSON Lines")
    p.add_argument("--format", choices=["jsonl", "chat"], default="jsonl",
                   help="jsonl: one JSON object per message sent (default); chat: a transcript to read, "
                        "in colour at a terminal unless NO_COLOR is set")
    p.set_defaults(func=cmd_simulate)
    p = add("console", "chat with the bot in this terminal as any member",
            "Chat with the bot in this terminal as config.yaml's first owner in the first group its account "
            "serves; lines starting "
            "with ':' switch speaker or chat, make members join or leave and move the clock (:help lists them). "
            "Uses its own database, qunbot-console.db, unless --db is given.")
    p.set_defaults(func=cmd_console)
    p = add("db", "create, migrate or inspect the database schema",
            "upgrade: create or migrate the database schema to the latest revision (qunbot run also does this "
            "at start) and print its revision; current: print the revision only.")
    p.add_argument("action", choices=["upgrade", "current"], help="upgrade or current")
    p.set_defaults(func=cmd_db)
    p = add("backup", "copy the SQLite database to a file, also while the bot runs",
            "Copy the SQLite database to PATH with SQLite's online backup, safe while bots run and write on it, and "
            "print what was written (size, schema revision, tables and rows). The copy is written beside PATH and "
            "renamed into place, so a failed backup leaves no partial file. Exits 1, writing nothing, when PATH "
            "exists (unless --force) or the database cannot be read; 2 for a PostgreSQL database, printing the "
            "pg_dump command to use instead.")
    p.add_argument("path", metavar="PATH", help="the backup file to write")
    p.add_argument("--force", action="store_true", help="replace PATH if it exists")
    p.set_defaults(func=cmd_backup)
    p = add("restore", "replace the SQLite database with a backup",
            "Replace the SQLite database with the backup at PATH (a qunbot database, from `qunbot backup`), "
            "migrated to this version's schema if it is older, and keep the database it replaces beside it as "
            "<db>.before-restore-<UTC time>. Refused, changing nothing (exit 1), while any process has the database "
            "open (stop the bot first) or when PATH is not a qunbot database of a schema revision this version "
            "knows; a bot starting meanwhile waits for the restore. Exits 2 for a PostgreSQL database, printing the "
            "pg_restore command to use instead.")
    p.add_argument("path", metavar="PATH", help="the backup to restore")
    p.set_defaults(func=cmd_restore)
    p = add("export", "write a community's directory, fund ledger and book of digests to files",
            "Write, for the owner, a new directory under --out (default: exports_dir in config.yaml) holding the "
            "member directory as a members' view without 姓名 and 公司 (members.csv, members.xlsx) and the owner's "
            "full copy (members-full.csv, members-full.xlsx), the fund ledger (ledger.csv: every entry with its "
            "number, cause and reversal) and a book of the published digests and best answers (book.md, one "
            "chapter per week crediting its authors). Files are readable by the bot's user only (0600). Exits 1 "
            "when the community has nothing to export.")
    p.add_argument("--community", default=None, metavar="ID", help="the community (default: the first in the "
                                                                   "config file)")
    p.add_argument("--out", default=None, metavar="DIR", help="where to write (default: exports_dir)")
    p.set_defaults(func=cmd_export)
    add_gateway_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
