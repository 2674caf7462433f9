"""Command latency through the dispatcher, and its reference: the same command's SQL replayed with plain sqlite3.

A command's statements are captured (a `before_cursor_execute` listener) while it runs once; the replay runs them
on the same database file in one transaction that is rolled back, so a write can be replayed again and again. An
INSERT whose unique key the captured run already took fails in the replay; the failed statement still did the
index work and the replay goes on.
"""
from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench.populate import Sizes, room_of
from bot.adapters.base import IncomingMessage
from bot.app import App

COMMANDS = ("/who", "/tip", "/rank", "/rank all", "/q", "/help", "/fund", "/points", "/search")
# A query's topic words (as members type them), and the questions-only filter.
SEARCHES = ["私域流量", "用户增长 转化率", "社群运营", "直播带货 ROI", "questions 复购", "SaaS续费率", "抖音直播 预算",
            "北极星指标"]


@dataclass
class Captured:
    statements: list[tuple[str, Any, bool]] = field(default_factory=list)    # (sql, parameters, executemany)
    on: bool = False


class Commands:
    """Makes and times the benchmark's commands, each from a random member of their group."""

    def __init__(self, app: App, sizes: Sizes, seed: int = 1) -> None:
        self.app = app
        self.sizes = sizes
        self.rng = random.Random(seed)
        self.n = 0
        self.captured = Captured()
        event.listen(app.engine.sync_engine, "before_cursor_execute", self._capture)

    def _capture(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
                 executemany: bool) -> None:
        if self.captured.on:
            self.captured.statements.append((statement, parameters, executemany))

    def text_of(self, command: str) -> str:
        if command == "/who":
            return "/who " + self.rng.choice(["增长", "数据分析 教育", "产品设计 上海", "私域"])
        if command == "/tip":
            return f"/tip A{self.rng.randrange(1, 3 * self.sizes.questions + 1)} 1"
        if command == "/search":
            return "/search " + self.rng.choice(SEARCHES)
        if command == "/q":
            return f"/q Q{self.rng.randrange(1, self.sizes.questions + 1)}"
        return command

    def message(self, command: str) -> IncomingMessage:
        self.n += 1
        member = self.rng.randrange(self.sizes.members)
        self.app.clock.advance(seconds=0.01)    # type: ignore[attr-defined]
        return IncomingMessage(f"bench-cmd-{self.n}", room_of(member, self.sizes), f"m{member}", f"成员{member}",
                               self.text_of(command), self.app.clock.now())

    async def run(self, command: str, *, capture: bool = False) -> float:
        """Handle one command; its latency in ms (what is sent afterwards is not counted). With `capture`, the
        SQL statements handling it sends (not those sending its reply) are kept in `self.captured`."""
        message = self.message(command)
        self.captured = Captured(on=capture)
        t = time.perf_counter()
        await self.app.handle(message)
        took = (time.perf_counter() - t) * 1000
        self.captured.on = False
        await self.app.sender.send_due(self.app.clock.now())
        return took

    async def capture(self, command: str) -> list[tuple[str, Any, bool]]:
        """The SQL statements one run of `command` sends to the database."""
        await self.run(command, capture=True)
        return self.captured.statements


def replay(db_file: Path, statements: Sequence[tuple[str, Any, bool]], runs: int) -> list[float]:
    """Each run's time in ms: the statements on a plain sqlite3 connection, in a transaction rolled back after."""
    conn = sqlite3.connect(db_file, isolation_level=None, timeout=30)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
        conn.execute(f"PRAGMA {pragma}")
    cur = conn.cursor()
    took = []
    try:
        for _ in range(runs):
            t = time.perf_counter()
            cur.execute("BEGIN")
            for sql, params, many in statements:
                try:
                    if many:
                        cur.executemany(sql, params)
                    else:
                        cur.execute(sql, params)
                        cur.fetchall()
                except sqlite3.IntegrityError:
                    pass
            cur.execute("ROLLBACK")
            took.append((time.perf_counter() - t) * 1000)
    finally:
        conn.close()
    return took
