"""The group rules: shown with /群规, edited by owners in chat (each edit a new version), acknowledged by members
where the owner asks for it. Version 1 is config.yaml's `rules` (or the locale's default) until an owner edits."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from bot.cleaning import clean
from bot.context import BaseCtx, Ctx
from bot.errors import CommandError
from bot.events import ChatRef
from bot.roles import Role
from bot.router import Router
from bot.text import too_long
from bot.tiers import tier_of
from models import Group, RulesAck, RulesVersion

router = Router()
MAX_RULES = 20
RULE_CHARS = 100
_NUMBERING = re.compile(r"\A\s*(?:\d{1,2}[.、)）]|[-•·*])\s*")


@dataclass(frozen=True)
class Rules:
    version: int
    lines: list[str]
    edited_at: datetime | None        # None: as config.yaml has them

    def numbered(self) -> str:
        return "\n".join(f"{i}. {rule}" for i, rule in enumerate(self.lines, 1))


async def current_rules(ctx: BaseCtx) -> Rules:
    """The rules in force: the latest version edited in chat (the community's), else config.yaml's (version 1):
    the group's tier's rules, else the community's, else the default ones."""
    row = await ctx.db.scalar(select(RulesVersion).where(RulesVersion.community_id == ctx.community.id)
                              .order_by(RulesVersion.version.desc()).limit(1))
    if row is not None:
        return Rules(row.version, row.text.split("\n"), row.edited_at)
    group: Group | None = getattr(ctx, "group", None)
    tier = tier_of(ctx.ccfg, group) if group is not None else None
    return Rules(1, (tier.rules if tier else None) or ctx.ccfg.rules or ctx.t("welcome.default_rules").split("\n"),
                 None)


async def acknowledged(ctx: BaseCtx, user_id: str, version: int) -> bool:
    return await ctx.db.get(RulesAck, (ctx.community.id, user_id, version)) is not None


@router.command("rules", aliases=("群规",))
async def rules(ctx: Ctx) -> None:
    """The group rules in force, with their version."""
    if ctx.args:
        raise CommandError("rules.usage")
    current = await current_rules(ctx)
    title = ctx.t("rules.title", version=current.version) if current.edited_at is None else \
        ctx.t("rules.title_edited", version=current.version, day=ctx.date(current.edited_at))
    lines = [title, current.numbered()]
    if ctx.ccfg.hygiene.rules_ack:
        if await acknowledged(ctx, ctx.sender_id, current.version):
            lines.append(ctx.t("rules.acked_already"))
        else:
            lines.append(ctx.t("rules.ack_hint"))
        if ctx.is_owner:
            count = await ctx.db.scalar(select(func.count()).select_from(RulesAck).where(
                RulesAck.community_id == ctx.community.id, RulesAck.version == current.version)) or 0
            lines.append(ctx.t("rules.ack_count", count=count))
    await ctx.reply_text("\n".join(lines))


@router.subcommand("rules", "edit", aliases=("改", "修改"), role=Role.OWNER, multiline=True)
async def rules_edit(ctx: Ctx) -> None:
    """Replace the rules, one rule a line (numbering is optional): a new version, announced in every group."""
    lines = [_NUMBERING.sub("", clean(line, multiline=False)).strip() for line in ctx.args.split("\n")]
    lines = [line for line in lines if line]
    if not lines:
        raise CommandError("rules.edit_usage")
    if len(lines) > MAX_RULES:
        raise CommandError("rules.too_many", limit=MAX_RULES)
    if any(too_long(line, RULE_CHARS) for line in lines):
        raise CommandError("rules.too_long", limit=RULE_CHARS)
    current = await current_rules(ctx)
    if lines == current.lines:
        raise CommandError("rules.unchanged", version=current.version)
    version = current.version + 1
    ctx.db.add(RulesVersion(community_id=ctx.community.id, version=version, text="\n".join(lines),
                            edited_by=ctx.sender_id, edited_at=ctx.now))
    edited = Rules(version, lines, ctx.now)
    notice = ctx.t("rules.announce", version=version, rules=edited.numbered())
    if ctx.ccfg.hygiene.rules_ack:
        notice += "\n" + ctx.t("rules.ack_hint")
    rooms = list(await ctx.db.scalars(select(Group.room_id).where(Group.community_id == ctx.community.id,
                                                                  Group.enabled.is_(True)).order_by(Group.room_id)))
    for room_id in rooms:
        await ctx.post(ChatRef(room_id=room_id), notice)
    if ctx.group is None or ctx.group.room_id not in rooms:
        await ctx.reply("rules.edited", version=version, groups=len(rooms))


@router.subcommand("rules", "ack", aliases=("确认",))
async def rules_ack(ctx: Ctx) -> None:
    """Acknowledge the rules in force."""
    current = await current_rules(ctx)
    if await acknowledged(ctx, ctx.sender_id, current.version):
        raise CommandError("rules.acked_already")
    ctx.db.add(RulesAck(community_id=ctx.community.id, user_id=ctx.sender_id, version=current.version,
                        acked_at=ctx.now))
    await ctx.respond("rules.acked", version=current.version)


@router.subcommand("rules", "history", aliases=("历史", "版本"))
async def rules_history(ctx: Ctx) -> None:
    """The versions of the rules: when each was made and by whom."""
    rows = list(await ctx.db.scalars(select(RulesVersion).where(RulesVersion.community_id == ctx.community.id)
                                     .order_by(RulesVersion.version)))
    lines = [ctx.t("rules.history_title"), ctx.t("rules.history_config")]
    lines += [ctx.t("rules.history_line", version=r.version, day=ctx.date(r.edited_at), count=len(r.text.split("\n")))
              for r in rows]
    await ctx.reply_text("\n".join(lines))
