"""/help, generated from the registered commands, their aliases, their sub-commands and their help.<command>
locale texts."""
from __future__ import annotations

from bot.commands import CommandSpec
from bot.context import Ctx
from bot.errors import CommandError
from bot.events import Capability
from bot.roles import Role, allowed
from bot.router import Router
from bot.text import clip
from bot.tiers import runs_in
from handlers.history import kept_note

router = Router()


def _names(ctx: Ctx, spec: CommandSpec) -> str:
    return ctx.t("help.names", alias=spec.aliases[0], name=spec.name)


def _all_names(ctx: Ctx, spec: CommandSpec) -> str:
    """Every name of one command, the community's language first: '/找人 /谁懂 /who' (a verb: '/基金 入账
    /基金 收入 /fund in')."""
    if spec.parent:
        parent = ctx.commands.get(spec.parent)
        assert parent is not None
        chinese = [f"/{parent.aliases[0]} {alias}" for alias in spec.aliases]
        english = f"/{parent.name} {spec.name}"
    else:
        chinese, english = [f"/{alias}" for alias in spec.aliases], f"/{spec.name}"
    return ctx.t("help.all_names", chinese=" ".join(chinese), english=english)


def summary(ctx: Ctx, spec: CommandSpec) -> str:
    return ctx.t(spec.help_key).split("\n", 1)[0]


def _verb_line(ctx: Ctx, parent: CommandSpec, verb: CommandSpec) -> str:
    """'/基金 入账 /fund in — 记一笔收入（财务）'"""
    role = "" if verb.role is Role.MEMBER else ctx.t("help.verb_role", role=ctx.t(f"role.{verb.role.value}"))
    names = ctx.t("help.verb_names", alias=parent.aliases[0], name=parent.name, verb_alias=verb.aliases[0],
                  verb=verb.name)
    return ctx.t("help.verb_line", names=names, summary=summary(ctx, verb), role=role)


@router.command("help", aliases=("帮助",))
async def help(ctx: Ctx) -> None:
    """List the commands this member may use, or explain one (and its sub-commands)."""
    wanted = ctx.args.strip().lstrip("/／").lower()
    if wanted:
        first, _, rest = wanted.partition(" ")
        found = ctx.commands.resolve(first, rest.strip())
        if found is None:
            raise CommandError("help.unknown", command=clip(wanted))
        spec = found[0]
        text = ctx.t("help.one", names=_all_names(ctx, spec), text=ctx.t(spec.help_key))
        if spec.subcommands:
            text += "\n" + "\n".join([ctx.t("help.verbs"), *(_verb_line(ctx, spec, v) for v in spec.subcommands)])
        await ctx.reply_text(text)
        return
    lines = [ctx.t("help.title", community=ctx.community.name)]
    for spec in ctx.commands.specs:
        if spec.hidden or (ctx.group is not None and not runs_in(ctx.ccfg, ctx.group, spec.handler)):
            continue            # (a feature the group's tier leaves out is not offered there)
        if allowed(spec.role, ctx.roles):
            lines.append(f"{_names(ctx, spec)} — {summary(ctx, spec)}")
        else:       # a command kept for a role may still have verbs for everyone (/周报 列表)
            lines += [_verb_line(ctx, spec, v) for v in spec.subcommands if allowed(v.role, ctx.roles)]
    lines.append(ctx.t("help.footer"))
    if (kept := kept_note(ctx, ctx.group)) is not None:
        lines.append(kept)
    if not ctx.can(Capability.SEES_ALL_MESSAGES):
        # The bot sees only messages that @-mention it (WeCom): say how to talk to it and what it cannot do.
        lines.append(ctx.t("help.mention_only"))
    await ctx.reply_text("\n".join(lines))
