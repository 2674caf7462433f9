"""`qunbot console`: chat with the bot in a terminal as any member, on a clock you can move."""
from __future__ import annotations

import asyncio
import re
import sys
import uuid
from datetime import datetime, timedelta
from typing import TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.adapters.base import IncomingMessage, JoinEvent, LeaveEvent, Member, MembersEvent, Outgoing
from bot.clock import SystemClock
from bot.config import Config
from bot.simulate import Driver
from models import Member as MemberRow
from models import RoomMember

# The owner's name until they say otherwise (:as <id> <name>): a person's name, as in a real group.
OWNER_NAMES = {"zh_CN": "老王", "en": "Lao Wang"}

HELP = """console commands:
  :as <user id> [name]     speak as another member (e.g. :as u2 李四)
  :room <room id>          speak in a group    :dm   speak to the bot in private
  :join <user id> [name] [inviter id]          :leave <user id>
  :tick +1d | +3h | +30m   move the clock forward (scheduled jobs run on the way)
  :quit                    leave (Ctrl-D works too)
anything else is sent as a chat message; @name mentions people you have spoken as or joined;
end a line with \\ to go on on the next line (a question's background, a long answer)."""

_DELTA = re.compile(r"\+?(\d+)([dhms])\Z")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


class Console:
    def __init__(self, config: Config, database_url: str, out: TextIO) -> None:
        # One person types for everyone here: a rate limit would only refuse them.
        config = config.model_copy(update={"rate_limit": config.rate_limit.model_copy(update={"enabled": False})})
        self.config = config
        self.out = out
        self.tz = ZoneInfo(config.timezone)
        community = config.communities[0]
        # The first group this process's bot account serves (other accounts' groups are their processes').
        self.room: str | None = next((g.room for g in community.groups if g.account in (None, config.account)), None)
        self.user = community.owners[0]
        self.names: dict[str, str] = {self.user: OWNER_NAMES.get(config.locale, OWNER_NAMES["en"])}
        self.counter = 0
        self.run = uuid.uuid4().hex[:12]        # message ids stay unique across runs on one database
        self.pending: list[str] = []        # lines ended with a backslash, waiting for the rest of the message
        self.driver = Driver(config, database_url, SystemClock().now(), self._print)

    def _print(self, out: Outgoing, at: datetime) -> None:
        where = f"#{out.chat.room_id}" if out.chat.room_id else f"@{out.chat.user_id} (private)"
        stamp = at.astimezone(self.tz).strftime("%m-%d %H:%M:%S")
        if out.kind == "remove":
            body = f"[removes {out.target}] {out.text}"
        elif out.kind in ("image", "file"):
            body = f"[{out.kind} {out.path}] {out.text}"
        else:
            body = out.text
        indented = body.replace("\n", "\n    ")
        self.out.write(f"  {stamp} bot -> {where}:\n    {indented}\n")
        self.out.flush()

    def prompt(self) -> str:
        if self.pending:
            return "... "
        where = self.room or "private"
        return f"[{where}] {self.names.get(self.user, self.user)} ({self.user})> "

    def _next_id(self) -> str:
        self.counter += 1
        return f"console-{self.run}-{self.counter}"

    async def start(self) -> None:
        app = await self.driver.start()
        if self.room is not None:
            # The group as this database last knew it (the console's members persist between runs), plus the owner.
            async with app.sessions() as db:
                known = (await db.execute(
                    select(MemberRow.user_id, MemberRow.display_name)
                    .join(RoomMember, RoomMember.user_id == MemberRow.user_id)
                    .where(RoomMember.room_id == self.room, RoomMember.present.is_(True),
                           MemberRow.community_id == self.config.communities[0].id)
                    .order_by(MemberRow.id))).all()
            for user_id, name in known:
                self.names[user_id] = name
            present = dict.fromkeys([self.user, *(user_id for user_id, _ in known)])
            await self.driver.handle(MembersEvent(self._next_id(), self.room,
                                                  tuple(Member(uid, self.names[uid]) for uid in present),
                                                  self.driver.clock.now()))
        self.out.write(f"qunbot console — {self.config.communities[0].name}. {HELP}\n")

    async def line(self, text: str) -> bool:
        """Handle one typed line; False means quit."""
        text = text.rstrip("\r\n")
        if text.endswith("\\"):           # to be continued on the next line
            self.pending.append(text[:-1])
            return True
        if self.pending:
            text, self.pending = "\n".join([*self.pending, text]), []
        now = self.driver.clock.now()
        if text.startswith(":"):
            return await self._control(text[1:].split())
        if not text.strip():
            return True
        mentions = tuple(uid for uid, name in self.names.items() if f"@{name}" in text)
        await self.driver.handle(IncomingMessage(self._next_id(), self.room, self.user,
                                                 self.names.get(self.user, self.user), text, now,
                                                 mention_ids=mentions))
        await self.driver.drain()
        return True

    async def _control(self, words: list[str]) -> bool:
        if not words or words[0] in ("help", "h", "?"):
            self.out.write(HELP + "\n")
        elif words[0] in ("quit", "q", "exit"):
            return False
        elif words[0] == "as" and len(words) >= 2:
            self.user = words[1]
            if len(words) >= 3:
                self.names[self.user] = " ".join(words[2:])
            self.names.setdefault(self.user, self.user)
        elif words[0] == "room" and len(words) == 2:
            self.room = words[1]
        elif words[0] == "dm":
            self.room = None
        elif words[0] == "join" and len(words) >= 2 and self.room:
            name = words[2] if len(words) >= 3 else words[1]
            self.names[words[1]] = name
            inviter = words[3] if len(words) >= 4 else self.user
            await self.driver.handle(JoinEvent(self._next_id(), self.room, words[1], name,
                                               self.driver.clock.now(), inviter))
            await self.driver.drain()
        elif words[0] == "leave" and len(words) == 2 and self.room:
            await self.driver.handle(LeaveEvent(self._next_id(), self.room, words[1], self.driver.clock.now()))
        elif words[0] == "tick" and len(words) == 2 and (m := _DELTA.match(words[1])):
            target = self.driver.clock.now() + timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
            await self.driver.advance_to(target)
            await self.driver.drain()
            self.out.write(f"  (now {self.driver.clock.now().astimezone(self.tz):%Y-%m-%d %H:%M})\n")
        else:
            self.out.write(f"  ? unknown or incomplete console command :{' '.join(words)} — type :help\n")
        return True


async def run_console(config: Config, database_url: str | None = None, stdin: TextIO = sys.stdin,
                      stdout: TextIO = sys.stdout) -> None:
    console = Console(config, database_url or config.database.url, stdout)
    await console.start()
    loop = asyncio.get_running_loop()
    try:
        while True:
            if stdin.isatty():
                stdout.write(console.prompt())
                stdout.flush()
            line = await loop.run_in_executor(None, stdin.readline)
            if not line or not await console.line(line):
                break
    finally:
        await console.driver.close()
