"""Tiers of groups (引流群, 正式群, 核心群): which tier a group is, and whether a feature runs in it.

A feature is the handler module a command, hook or job is registered in (handlers/tips.py: "tips"), so what a tier
switches off is switched off for commands, join hooks and scheduled posts alike."""
from __future__ import annotations

from typing import Any

from bot.config import CommunityConfig, TierConfig
from models import Group


def feature_of(handler: Any) -> str:
    """The feature a handler belongs to: its module's name."""
    return str(handler.__module__).rsplit(".", 1)[-1]


def tier_of(ccfg: CommunityConfig, group: Group) -> TierConfig | None:
    """The group's tier: config.yaml's for a group listed there, else the one it was enabled with."""
    listed = next((g for g in ccfg.groups if g.room == group.room_id), None)
    name = listed.tier if listed is not None else group.tier
    return next((t for t in ccfg.tiers if t.name == name), None) if name else None


def runs_in(ccfg: CommunityConfig, group: Group, handler: Any) -> bool:
    """Whether the handler's feature runs in the group (every feature does in a group without a tier)."""
    tier = tier_of(ccfg, group)
    return tier is None or tier.runs(feature_of(handler))


# `/启用 模板 <群名>`: the first word that makes the rest the name of the group to copy.
TEMPLATE_WORDS = ("模板", "template")


def template_args(args: str) -> str | None:
    """The template group's name in /启用's arguments, or None when they name none."""
    words = args.split(None, 1)
    if not words or words[0].lower() not in TEMPLATE_WORDS:
        return None
    return words[1].strip() if len(words) == 2 else ""
