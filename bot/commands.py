"""What a command and a job are, and the table of registered commands that the dispatcher routes by and /help
lists. Handler modules register them through a Router (bot.router)."""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.roles import Role

if TYPE_CHECKING:
    from bot.config import CommunityConfig

# A handler takes its context (bot.context.Ctx / JobCtx); typed loosely here so this table needs no contexts.
Handler = Callable[[Any], Awaitable[None]]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    handler: Handler
    aliases: tuple[str, ...] = ()
    role: Role = Role.MEMBER
    in_group: bool = False        # only in a group chat
    private: bool = False         # only in private chat
    hidden: bool = False          # not listed by /help (flow steps such as /agree are listed under signup)
    multiline: bool = False       # its arguments may span lines (an answer, a question's background, a form)
    parent: str | None = None     # a sub-command's command: "fund" for /基金 入账
    # A sub-command whose first word also routes to it when it matches this (第7期 for /周报 期 7); it then gets
    # all the arguments, that word included.
    pattern: re.Pattern[str] | None = None
    # Bare words that invoke it (no arguments) in groups where the bot sees every message: 签到.
    words: tuple[str, ...] = ()
    subcommands: list[CommandSpec] = field(default_factory=list, compare=False)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    @property
    def help_key(self) -> str:
        """Its help text in the locale files: help.<command>, or help.<command>_<verb> for a sub-command."""
        return f"help.{self.parent}_{self.name}" if self.parent else f"help.{self.name}"

    def subcommand(self, word: str) -> CommandSpec | None:
        """The sub-command `word` names (any alias, any case), if any."""
        word = word.lower()
        return next((s for s in self.subcommands if word in (n.lower() for n in s.names)), None)

    def matching(self, word: str) -> CommandSpec | None:
        """The sub-command whose pattern `word` matches, if any."""
        return next((s for s in self.subcommands if s.pattern is not None and s.pattern.fullmatch(word)), None)


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: Handler
    catch_up: str                 # "latest": announcements run for the latest missed period only; "each": ledgers
    cron: Callable[[CommunityConfig], str] | None = None   # the crontab line; default community.schedule.<name>
    # An announcement's period stops being true at this time (default: when the next period is due); a run
    # caught up later is skipped.
    expires: Callable[[Any], datetime] | None = None
    # Whether the job is scheduled at all with this configuration (default: always); a job for an optional feature
    # that is not configured adds no fire times (simulated time would stop at each).
    wanted: Callable[[Any], bool] | None = None


@dataclass(frozen=True)
class TimerSpec:
    """What a one-off timer of `kind` does when it falls due (models.jobs.Timer rows name the kind)."""

    kind: str
    func: Callable[[Any, Any], Awaitable[None]]      # (JobCtx, Timer)


class CommandTable:
    """Every registered command by each of its names (lower case), in registration order for /help."""

    def __init__(self, specs: Iterable[CommandSpec]) -> None:
        self._by_name: dict[str, CommandSpec] = {}
        self._by_word: dict[str, CommandSpec] = {}
        self.specs: tuple[CommandSpec, ...] = tuple(specs)
        for spec in self.specs:
            for name in spec.names:
                if name.lower() in self._by_name:
                    raise ValueError(f"command name {name!r} registered twice")
                self._by_name[name.lower()] = spec
            for word in spec.words:
                self._by_word[word.lower()] = spec

    def get(self, name: str) -> CommandSpec | None:
        return self._by_name.get(name.lower())

    def by_word(self, text: str) -> CommandSpec | None:
        """The command a whole message of one bare word invokes (签到), if any."""
        return self._by_word.get(text.strip().lower())

    @property
    def names(self) -> list[str]:
        return list(self._by_name)

    def resolve(self, name: str, args: str) -> tuple[CommandSpec, str] | None:
        """The command (or the sub-command its first word names) and the arguments left for it."""
        spec = self.get(name)
        if spec is None or not spec.subcommands:
            return (spec, args) if spec else None
        parts = args.split(None, 1)
        sub = spec.subcommand(parts[0]) if parts else None
        if sub is None:
            matched = spec.matching(parts[0]) if parts else None
            return (matched, args) if matched is not None else (spec, args)
        return sub, parts[1].strip() if len(parts) == 2 else ""
