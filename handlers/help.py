"""/help, generated from the registered commands, their aliases and their help.<command> locale texts."""
from __future__ import annotations

from bot.adapters.base import Capability
from bot.context import Ctx
from bot.errors import CommandError
from bot.roles import allowed
from bot.router import CommandSpec, Router
from handlers.text import clip

router = Router()


def _names(ctx: Ctx, spec: CommandSpec) -> str:
    return ctx.t("help.names", alias=spec.aliases[0], name=spec.name)


def summary(ctx: Ctx, spec: CommandSpec) -> str:
    return ctx.t(f"help.{spec.name}").split("\n", 1)[0]


@router.command("help", aliases=("帮助",))
async def help(ctx: Ctx) -> None:
    """List the commands this member may use, or explain one."""
    dispatcher = ctx.app.dispatcher
    wanted = ctx.args.strip().lstrip("/／").lower()
    if wanted:
        spec = dispatcher.commands.get(wanted)
        if spec is None:
            raise CommandError("help.unknown", command=clip(wanted))
        aliases = " ".join(f"/{a}" for a in spec.aliases)
        await ctx.reply("help.one", names=f"/{spec.name} {aliases}".strip(),
                        text=ctx.t(f"help.{spec.name}"))
        return
    lines = [ctx.t("help.title", community=ctx.community.name)]
    for spec in dispatcher.specs:
        if spec.hidden or not allowed(spec.role, ctx.roles):
            continue
        lines.append(f"{_names(ctx, spec)} — {summary(ctx, spec)}")
    lines.append(ctx.t("help.footer"))
    if not ctx.can(Capability.SEES_ALL_MESSAGES):
        # The bot sees only messages that @-mention it (WeCom): say how to talk to it and what it cannot do.
        lines.append(ctx.t("help.mention_only"))
    await ctx.reply_text("\n".join(lines))
