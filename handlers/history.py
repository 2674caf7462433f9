"""Whether a group's ordinary chat is kept, for how long, and clearing it (/记录, owners)."""
from __future__ import annotations

from bot.context import BaseCtx, Ctx
from bot.errors import CommandError
from bot.events import Capability
from bot.history import delete_messages
from bot.roles import Role
from bot.router import Router
from models import Group

router = Router()

ON, OFF, PURGE, CONFIRM = ("开", "on"), ("关", "off"), ("清除", "purge"), ("确认", "confirm")


def kept_note(ctx: BaseCtx, group: Group | None) -> str | None:
    """The line /帮助 and the welcome add in a group whose chat is kept: what is kept, what for, how long."""
    if group is None or not group.history:
        return None
    key = "history.kept_note" if ctx.can(Capability.SEES_ALL_MESSAGES) else "history.kept_note_mentions"
    return ctx.t(key, days=ctx.config.retention.chat_days)


@router.command("history", aliases=("记录",), role=Role.OWNER, in_group=True)
async def history(ctx: Ctx) -> None:
    """Keep this group's chat or not, or clear what is kept."""
    words = ctx.args.lower().split()
    group = await ctx.db.get_one(Group, ctx.chat.room_id)
    if not words:
        await ctx.reply("history.status_on" if group.history else "history.status_off",
                        days=ctx.config.retention.chat_days)
    elif len(words) == 1 and words[0] in ON:
        group.history = True
        ctx.group_changed(group.room_id)
        await ctx.reply("history.turned_on", days=ctx.config.retention.chat_days)
    elif len(words) == 1 and words[0] in OFF:
        group.history = False
        ctx.group_changed(group.room_id)
        ctx.forget_chat(room_id=group.room_id)          # stops at once: nothing still waiting is written
        await ctx.reply("history.turned_off")
    elif len(words) == 1 and words[0] in PURGE:
        await ctx.reply("history.purge_confirm")
    elif len(words) == 2 and words[0] in PURGE and words[1] in CONFIRM:
        ctx.forget_chat(room_id=group.room_id)
        gone = await delete_messages(ctx.db, ctx.community.id, room_id=group.room_id)
        await ctx.reply("history.purged", n=gone)
    else:
        raise CommandError("history.usage")
