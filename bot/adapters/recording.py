"""An adapter for simulated time: everything sent is handed to a callback (simulate, console, tests)."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.adapters.base import Capability, Member, OnEvent, Outgoing

ALL_CAPABILITIES = frozenset(Capability)


class RecordingAdapter:
    """A platform that sees everything and can do everything; what the bot sends goes to `on_send`."""

    name = "simulate"

    def __init__(self, on_send: Callable[[Outgoing], None], capabilities: frozenset[Capability] = ALL_CAPABILITIES,
                 members: Callable[[str], Sequence[Member]] | None = None) -> None:
        self.on_send = on_send
        self.capabilities = capabilities
        self._members = members

    async def run(self, on_event: OnEvent) -> None:
        raise RuntimeError("simulated chats are driven by bot.simulate.Driver, not by run()")

    async def send(self, out: Outgoing) -> None:
        self.on_send(out)

    async def room_members(self, room_id: str) -> Sequence[Member]:
        return list(self._members(room_id)) if self._members else []

    async def close(self) -> None:
        return None
