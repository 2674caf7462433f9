"""`qunbot simulate --format chat`: a simulated conversation as people read it.

One block per message, members' messages among the bot's, in the order they happened:

    —— 2026.11.24（周二）——
    20:00 [增长学习社 1 群] 张三 邀请 王五 加入了群聊
    20:05 [增长学习社 1 群] 王五: /登记
    20:05 [私聊 王五] qunbot → 我们来登记你的资料……
          （1/9）你的城市？

The time is the simulated clock's (the send time after pacing for the bot's messages); a text's further lines are
indented under it. Labels come from the locale files (transcript.*). Colour is for a terminal only.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date, datetime
from typing import TextIO
from zoneinfo import ZoneInfo

from bot import i18n, weeks
from bot.config import Config
from bot.events import IncomingEvent, IncomingMessage, JoinEvent, LeaveEvent, MembersEvent, MessageKind, Outgoing

INDENT = " " * len("HH:MM ")
MAX_LISTED = 10                 # names shown of a member list; the rest are counted

# ANSI SGR codes
_DIM, _BOLD, _CYAN, _GREEN, _YELLOW, _RED = "2", "1", "36", "1;32", "33", "31"


def wants_color(stream: TextIO, environ: Mapping[str, str] = os.environ) -> bool:
    """Colour only for a person at a terminal who has not asked for none (NO_COLOR set and not empty)."""
    try:
        at_terminal = stream.isatty()
    except (AttributeError, ValueError):       # no isatty, or already closed
        return False
    return at_terminal and not environ.get("NO_COLOR")


class Transcript:
    """Renders what came in and what the bot sent as `HH:MM [where] who: text` blocks, a line at each new day.

    Each method returns the text to print (ending in a line break, or empty); names of members are learnt from the
    events, so a private chat or a removal names the person as the group last saw them.
    """

    def __init__(self, config: Config, *, color: bool = False) -> None:
        self.locale = config.locale
        self.tz = ZoneInfo(config.timezone)
        self.bot = config.bot_names[0] if config.bot_names else "qunbot"
        self.rooms = {g.room: g.name or g.room for c in config.communities for g in c.groups}
        self.color = color
        self.names: dict[str, str] = {}
        self._day: date | None = None
        self._message_ids: set[str] = set()

    # ---- what came in ----------------------------------------------------------------------------------------

    def received(self, event: IncomingEvent) -> str:
        """A member's message, a join, a leave or a member list, as the group (or the private chat) saw it."""
        if isinstance(event, IncomingMessage):
            self.names[event.sender_id] = event.sender_name
            body = self._incoming_body(event)
            if event.event_id in self._message_ids:
                body += self._t("transcript.redelivered")
            self._message_ids.add(event.event_id)
            where = self._room(event.room_id) if event.room_id else self._private(event.sender_id)
            return self._block(event.sent_at, where, self._paint(event.sender_name, _BOLD) + ": ", body)
        if isinstance(event, JoinEvent):
            self.names[event.user_id] = event.name
            if event.inviter_id:
                text = self._t("transcript.invited", name=event.name, inviter=self._name(event.inviter_id))
            else:
                text = self._t("transcript.joined", name=event.name)
            return self._block(event.at, self._room(event.room_id), "", self._paint(text, _YELLOW))
        if isinstance(event, LeaveEvent):
            text = self._t("transcript.left", name=self._name(event.user_id))
            return self._block(event.at, self._room(event.room_id), "", self._paint(text, _YELLOW))
        if isinstance(event, MembersEvent):
            for member in event.members:
                self.names[member.user_id] = member.name
            listed = [m.name for m in event.members[:MAX_LISTED]]
            if len(event.members) > MAX_LISTED:
                listed.append("…")
            text = self._t("transcript.members", count=len(event.members),
                           names=self._t("common.list_sep").join(listed))
            return self._block(event.at, self._room(event.room_id), "", self._paint(text, _YELLOW))
        raise TypeError(f"not an incoming event: {event!r}")

    def restarted(self, at: datetime) -> str:
        """The bot process died and starts again at `at`."""
        return self._block(at, "", "", self._paint(self._t("transcript.restart", bot=self.bot), _YELLOW))

    def _incoming_body(self, message: IncomingMessage) -> str:
        if message.kind == MessageKind.TEXT:
            body = message.text
        else:
            body = self._tagged(self._t(f"transcript.kind.{message.kind.value}"), message.url or message.path,
                                message.text)
        return self._t("transcript.quote", id=message.quoted_id) + body if message.quoted_id else body

    # ---- what the bot sent -----------------------------------------------------------------------------------

    def sent(self, out: Outgoing, at: datetime) -> str:
        """One message the bot sent (text, image or removal) at simulated time `at`."""
        if out.kind == "say":
            body = out.text
        elif out.kind in ("image", "file"):
            body = self._tagged(self._t(f"transcript.kind.{out.kind}"), out.path, out.text)
        elif out.kind == "remove":
            target = self._name(out.target) if out.target else "?"
            body = self._paint(self._tagged(self._t("transcript.remove", name=target), None, out.text), _RED)
        else:                               # a kind this renderer does not know yet: shown, never dropped
            body = self._tagged(out.kind, None, out.text)
        where = self._room(out.chat.room_id) if out.chat.room_id else self._private(out.chat.user_id or "?")
        return self._block(at, where, self._paint(self.bot, _GREEN) + " → ", body)

    # ---- layout ----------------------------------------------------------------------------------------------

    def _block(self, at: datetime, where: str, who: str, body: str) -> str:
        local = at.astimezone(self.tz)
        lines = []
        if local.date() != self._day:
            self._day = local.date()
            weekday = self._t("date.weekdays").split(",")[local.weekday()]
            day = self._t("transcript.day", date=weeks.date(local, self.tz, self.locale), weekday=weekday)
            lines.append(self._paint(day, _DIM))
        first, *rest = body.split("\n")
        head = [self._paint(local.strftime("%H:%M"), _DIM)]
        if where:
            head.append(self._paint(f"[{where}]", _CYAN))
        head.append(who + first)
        lines.append(" ".join(head))
        lines.extend(INDENT + line if line.strip() else "" for line in rest)
        return "\n".join(line.rstrip() for line in lines) + "\n"

    @staticmethod
    def _tagged(label: str, ref: str | None, text: str) -> str:
        """`[label ref] text`: what a message carries besides text (an image and its path, a link and its URL)."""
        tag = f"[{label} {ref}]" if ref else f"[{label}]"
        return f"{tag} {text}" if text else tag

    def _room(self, room_id: str) -> str:
        return self.rooms.get(room_id, room_id)

    def _private(self, user_id: str) -> str:
        return self._t("transcript.private", name=self._name(user_id))

    def _name(self, user_id: str) -> str:
        return self.names.get(user_id, user_id)

    def _paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color and text else text

    def _t(self, key: str, **params: object) -> str:
        return i18n.t(self.locale, key, **params)
