"""Ordinary chat coming in: the sustained rate it is kept at (tokenised, written), the event loop's longest stall
meanwhile, and command latency while chat arrives at a steady 1,000 messages a second.

Chat goes through App.handle like a platform's; the recorder is flushed the way the serve loop does it: when a
full batch wakes it, or when the oldest waiting message has waited FLUSH_SECONDS.
"""
from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

from bench.commands import COMMANDS, Commands
from bench.measure import StallTicker
from bench.populate import Sizes, room_of
from bot.adapters.base import IncomingMessage
from bot.app import App
from bot.history import BATCH
from bot.text import warm_up


def lcut_rate(texts: list[str]) -> float:
    """The reference: messages a second jieba.lcut alone cuts."""
    lcut = warm_up().lcut
    t = time.perf_counter()
    for text in texts:
        lcut(text)
    return len(texts) / (time.perf_counter() - t)


class Flusher:
    """The serve loop's part in keeping chat: it writes the batch when woken by a full one or when it is due."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.flushes = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        wake = self.app._wake
        while True:
            wake.clear()
            due = self.app.history.seconds_to_flush()
            if due == 0:
                await self.app.history.flush()
                self.flushes += 1
                continue
            try:
                await asyncio.wait_for(wake.wait(), 0.05 if due is None else max(due, 0.001))
            except TimeoutError:
                pass

    def __enter__(self) -> Flusher:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


class Chatter:
    """Messages from random members of their own groups."""

    def __init__(self, app: App, sizes: Sizes, texts: list[str], seed: int) -> None:
        self.app = app
        self.sizes = sizes
        self.texts = texts
        self.rng = random.Random(seed)
        self.n = 0

    def next(self) -> IncomingMessage:
        member = self.rng.randrange(self.sizes.members)
        text = self.texts[self.n % len(self.texts)]
        self.n += 1
        return IncomingMessage(f"bench-chat-{id(self)}-{self.n}", room_of(member, self.sizes), f"m{member}",
                               f"成员{member}", text, self.app.clock.now())


@dataclass
class Ingest:
    rate: float             # messages/s kept, tokenised and written
    stall_ms: float
    shed: int
    first_rate: float       # messages/s for each member's first message since start (a roster check each)


async def sustained(app: App, sizes: Sizes, texts: list[str]) -> Ingest:
    """Feed `texts` as fast as they are taken — the feeder waits while two batches already wait, as a platform
    connection's backpressure would — until all are written."""
    chatter = Chatter(app, sizes, texts, seed=3)
    shed_before = app.history.shed
    with Flusher(app):
        # A member's first message since start checks their roster entry (a transaction); steady chat does not.
        t = time.perf_counter()
        for member in range(sizes.members):
            await app.handle(IncomingMessage(f"bench-first-{member}", room_of(member, sizes), f"m{member}",
                                             f"成员{member}", texts[member % len(texts)], app.clock.now()))
        first_rate = sizes.members / (time.perf_counter() - t)
        await app.history.flush()
    with StallTicker() as ticker, Flusher(app):
        t = time.perf_counter()
        for _ in texts:
            while app.history.waiting >= 2 * BATCH:
                await asyncio.sleep(0.001)
            await app.handle(chatter.next())
        while app.history.waiting or app.history._lock.locked():
            await asyncio.sleep(0.001)
        elapsed = time.perf_counter() - t
    return Ingest(len(texts) / elapsed, ticker.longest * 1000, app.history.shed - shed_before, first_rate)


@dataclass
class UnderLoad:
    latencies: list[float]
    achieved_rate: float
    stall_ms: float


async def commands_under_chat(app: App, sizes: Sizes, commands: Commands, texts: list[str],
                              rate: float = 1000.0) -> UnderLoad:
    """Time the commands, one after another, while another task brings chat at `rate` messages a second."""
    chatter = Chatter(app, sizes, texts, seed=4)
    latencies: list[float] = []
    stop = asyncio.Event()

    async def chat() -> None:
        start = time.perf_counter()
        while not stop.is_set():
            due = int((time.perf_counter() - start) * rate)
            while chatter.n < due:
                await app.handle(chatter.next())
            await asyncio.sleep(0.005)

    with StallTicker() as ticker, Flusher(app):
        t = time.perf_counter()
        producer = asyncio.get_running_loop().create_task(chat())
        i = 0
        while time.perf_counter() - t < sizes.load_seconds:
            latencies.append(await commands.run(COMMANDS[i % len(COMMANDS)]))
            i += 1
            await asyncio.sleep(0.002)
        stop.set()
        await producer
        elapsed = time.perf_counter() - t
        await app.history.flush()
    return UnderLoad(latencies, chatter.n / elapsed, ticker.longest * 1000)
