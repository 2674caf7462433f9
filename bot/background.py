"""Work a job starts that must not hold up the scheduler's round: requests to an outside service that may take
minutes while other jobs and the outbox wait their turn.

Each piece runs as a task of its own under a key; a piece whose key is still running is not started twice (a
job's next run finds the last one still at work and leaves it be). A failure is logged; stopping cancels what is
still running, which is why such work stores its progress as it goes."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger("qunbot.background")


class Background:
    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def running(self, key: str) -> bool:
        task = self._tasks.get(key)
        return task is not None and not task.done()

    def start(self, key: str, work: Callable[[], Coroutine[Any, Any, None]]) -> bool:
        """Start `work` under `key` unless work under that key is still running; whether it started."""
        if self.running(key):
            return False
        task = asyncio.create_task(self._guarded(key, work), name=f"background:{key}")
        self._tasks[key] = task
        task.add_done_callback(lambda done: self._tasks.pop(key) if self._tasks.get(key) is done else None)
        return True

    @staticmethod
    async def _guarded(key: str, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        try:
            await work()
        except asyncio.CancelledError:
            log.info("%s: stopped unfinished", key)
            raise
        except Exception:
            log.exception("%s failed", key)

    async def settle(self) -> None:
        """Wait until nothing runs (what is started meanwhile included): simulated time and tests, where the
        work done in the background must be done before the clock moves on."""
        while tasks := [t for t in self._tasks.values() if not t.done()]:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def cancel(self) -> None:
        """Stop what still runs (stopping the bot); returns once it has."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
