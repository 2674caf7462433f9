"""Command registration (one Router per handler module, included by bot/app.py) and command-line parsing."""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.cleaning import clean
from bot.commands import CommandSpec, JobSpec, TimerSpec
from bot.config import CommunityConfig, Config
from bot.context import BaseCtx, Ctx, EventCtx, JobCtx
from bot.roles import Role
from models import Member

Handler = Callable[[Ctx], Awaitable[None]]
JobFunc = Callable[[JobCtx], Awaitable[None]]
TimerFunc = Callable[[JobCtx, Any], Awaitable[None]]       # (context, models.jobs.Timer)
EventHook = Callable[[EventCtx], Awaitable[None]]
TextHook = Callable[[Ctx], Awaitable[bool]]
ForgetHook = Callable[[BaseCtx, Member], Awaitable[None]]
ViolationHook = Callable[[Ctx, Any], Awaitable[None]]     # the Any is a bot.spam.Finding

# A command starts with / or ／ and a name of Latin letters or CJK characters, followed by whitespace or the
# end. So WeChat emoji codes (/::) /:rose), paths (/usr/bin) and URLs are ordinary chat.
_COMMAND = re.compile(r"[/／]([A-Za-z\u4e00-\u9fff][A-Za-z_\u4e00-\u9fff]{0,30})(?=$|[\s\u2005\u3000])(.*)\Z", re.S)
# Leading @-mentions (of the bot) before a command: "@群助手 /help", WeCom's "@Bot /rank".
_LEADING_AT = re.compile(r"\A(?:@[^\s\u2005\u3000]{1,40}[\s\u2005\u3000]+){1,2}(?=[/／])")


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    name: str
    args: str


def parse_command(text: str) -> ParsedCommand | None:
    """The command in a message (its text cleaned: bot.cleaning), or None when it is ordinary chat."""
    text = _LEADING_AT.sub("", clean(text).strip(), count=1)
    m = _COMMAND.match(text)
    if not m:
        return None
    return ParsedCommand(name=m.group(1).lower(), args=m.group(2).strip(" \t\u2005\u3000\n"))


@dataclass
class Router:
    commands: list[CommandSpec] = field(default_factory=list)
    joins: list[EventHook] = field(default_factory=list)
    leaves: list[EventHook] = field(default_factory=list)
    texts: list[TextHook] = field(default_factory=list)
    violations: list[ViolationHook] = field(default_factory=list)
    jobs: list[JobSpec] = field(default_factory=list)
    forgets: list[ForgetHook] = field(default_factory=list)
    timers: list[TimerSpec] = field(default_factory=list)

    def command(self, name: str, *, aliases: tuple[str, ...] = (), role: Role = Role.MEMBER,
                in_group: bool = False, private: bool = False, hidden: bool = False,
                multiline: bool = False, words: tuple[str, ...] = ()) -> Callable[[Handler], Handler]:
        """Register a command. Arguments with a line break are refused unless `multiline`: a line of the bot's
        that echoes them can then never be followed by a line the member wrote. `words` invoke it alone as a whole
        message, in groups where the bot sees every message."""
        def register(fn: Handler) -> Handler:
            self.commands.append(CommandSpec(name, fn, aliases, role, in_group, private, hidden, multiline,
                                             words=words))
            return fn
        return register

    def subcommand(self, command: str, name: str, *, aliases: tuple[str, ...] = (), role: Role = Role.MEMBER,
                   multiline: bool = False, pattern: str | None = None) -> Callable[[Handler], Handler]:
        """Register a verb of `command` (registered before in this router), e.g. /基金 入账: routed by the
        dispatcher with its own role, listed by /帮助 <command> with its help text help.<command>_<name>; a first word
        matching `pattern` routes to it too, with all the arguments (/周报 第7期)."""
        parent = next(spec for spec in self.commands if spec.name == command)

        def register(fn: Handler) -> Handler:
            parent.subcommands.append(CommandSpec(name, fn, aliases, role, parent.in_group, parent.private,
                                                  multiline=multiline, parent=command,
                                                  pattern=re.compile(pattern) if pattern else None))
            return fn
        return register

    def on_join(self, fn: EventHook) -> EventHook:
        self.joins.append(fn)
        return fn

    def on_leave(self, fn: EventHook) -> EventHook:
        self.leaves.append(fn)
        return fn

    def on_forget(self, fn: ForgetHook) -> ForgetHook:
        """A hook for a member deleting their data, called before their row is pseudonymised (ctx.member_forgotten)."""
        self.forgets.append(fn)
        return fn

    def on_text(self, fn: TextHook) -> TextHook:
        """A hook for ordinary (non-command) messages; returns True when it consumed the message."""
        self.texts.append(fn)
        return fn

    def on_violation(self, fn: ViolationHook) -> ViolationHook:
        """A hook for a group message the anti-spam flagged (bot.spam), run in the message's own transaction."""
        self.violations.append(fn)
        return fn
    def timer(self, kind: str) -> Callable[[TimerFunc], TimerFunc]:
        """What a one-off timer of `kind` does when due (scheduler.core.set_timer sets one): runs once, across
        restarts and processes; caught up at or after its expiry it is skipped."""
        def register(fn: TimerFunc) -> TimerFunc:
            self.timers.append(TimerSpec(kind, fn))
            return fn
        return register

    def job(self, name: str, *, catch_up: str, cron: Callable[[CommunityConfig], str] | None = None,
            expires: Callable[[JobCtx], datetime] | None = None,
            wanted: Callable[[Config], bool] | None = None) -> Callable[[JobFunc], JobFunc]:
        """A scheduled job; `cron` derives its crontab line from the community's config (else schedule.<name>);
        `expires` says when an announcement is no longer true (a late run after it is skipped); `wanted` whether
        the configuration needs the job at all (default: it does)."""
        if catch_up not in ("latest", "each"):
            raise ValueError("catch_up must be 'latest' or 'each'")
        if expires is not None and catch_up != "latest":
            raise ValueError("only announcements expire: a ledger period always runs")

        def register(fn: JobFunc) -> JobFunc:
            self.jobs.append(JobSpec(name, fn, catch_up, cron, expires, wanted))
            return fn
        return register
