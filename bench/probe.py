"""Fresh processes for what only a fresh process shows: the time from start to the first reply and steady
resident memory. `python -m bench.probe jieba` loads jieba alone (the reference); `python -m bench.probe bot DB
SIZES` starts a bot on the populated database, answers /help, then serves a while and measures. Each prints one
JSON line; times are wall-clock (time.time()) so the parent can count from the moment it started the process.
"""
from __future__ import annotations

import time

LAUNCHED = time.time()

import asyncio  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tracemalloc  # noqa: E402
from dataclasses import asdict  # noqa: E402
from datetime import timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402


def _status(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def probe_jieba() -> dict[str, Any]:
    import jieba

    started = time.time()
    jieba.setLogLevel(60)
    jieba.initialize()
    loaded = time.time()
    gc.collect()
    return {"loaded_at": loaded, "load_s": loaded - started, "rss_mb": _status("VmRSS"), "hwm_mb": _status("VmHWM")}


async def probe_bot(db_file: str, sizes_json: str, trace: bool) -> dict[str, Any]:
    if trace:
        tracemalloc.start(1)
    from bench.commands import COMMANDS, Commands
    from bench.corpus import messages
    from bench.ingest import Chatter, Flusher
    from bench.populate import Sizes, config, now_of
    from bot.adapters.base import IncomingMessage
    from bot.adapters.recording import RecordingAdapter
    from bot.app import App
    from bot.clock import FakeClock

    sizes = Sizes(**json.loads(sizes_json))
    first_reply: list[float] = []
    app = App(config(sizes), RecordingAdapter(lambda out: first_reply.append(time.time())),
              FakeClock(now_of(sizes) + timedelta(days=1)), database_url=f"sqlite+aiosqlite:///{db_file}")
    await app.start()
    await app.handle(IncomingMessage("probe-help", "r0", "m0", "成员0", "/help", app.clock.now()))
    await app.sender.send_due(app.clock.now())
    replied = first_reply[0] if first_reply else float("nan")
    # Steady state: the bot has served every group for a while.
    commands = Commands(app, sizes, seed=9)
    chatter = Chatter(app, sizes, messages(2_000, seed=21), seed=8)
    with Flusher(app):
        for i in range(sizes.steady_messages):
            await app.handle(chatter.next())
            if i % 25 == 0:
                await commands.run(COMMANDS[(i // 25) % len(COMMANDS)])
            if i % 100 == 0:
                await asyncio.sleep(0)
        await app.history.flush()
    gc.collect()
    result: dict[str, Any] = {"replied_at": replied, "rss_mb": _status("VmRSS"), "hwm_mb": _status("VmHWM"),
                              "sizes": asdict(sizes)}
    if trace:
        snapshot = tracemalloc.take_snapshot()
        result["top_allocations"] = [
            {"where": str(stat.traceback[0]), "mb": round(stat.size / 2**20, 2), "blocks": stat.count}
            for stat in snapshot.statistics("filename")[:20]]
        result["traced_mb"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
    await app.close()
    return result


def main(argv: list[str]) -> None:
    result = probe_jieba() if argv[0] == "jieba" else asyncio.run(probe_bot(argv[1], argv[2], "--trace" in argv))
    result["launched_at"] = LAUNCHED
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:])
