"""Small measuring tools: percentiles, an event-loop stall ticker, cProfile summaries, resident memory."""
from __future__ import annotations

import asyncio
import cProfile
import pstats
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

PROFILE_TOP = 25


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def rss_mb() -> float:
    """This process's resident memory now (Linux: /proc/self/status VmRSS), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class StallTicker:
    """Wakes every `interval` seconds and keeps the longest lateness: how long the event loop was blocked."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.interval)
            self.longest = max(self.longest, time.perf_counter() - before - self.interval)

    def __enter__(self) -> StallTicker:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def summarise(profiler: cProfile.Profile, top: int = PROFILE_TOP) -> list[dict[str, Any]]:
    """The top functions by cumulative time, as JSON-friendly rows."""
    stats = pstats.Stats(profiler)
    rows = []
    for (path, line, name), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({"function": f"{_short(path)}:{line}({name})", "calls": calls,
                     "tottime_s": round(tottime, 4), "cumtime_s": round(cumtime, 4)})
    rows.sort(key=lambda r: -r["cumtime_s"])
    return rows[:top]


def _short(path: str) -> str:
    for marker in ("site-packages/", "lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    root = str(Path(__file__).resolve().parent.parent) + "/"
    return path.removeprefix(root)


async def profiled(work: Callable[[], Awaitable[object]]) -> list[dict[str, Any]]:
    """Run `work` under cProfile (this thread only: executor threads are not seen) and summarise it."""
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        await work()
    finally:
        profiler.disable()
    return summarise(profiler)
