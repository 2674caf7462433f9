"""Directory privacy: everything is shared while groups are small; above the threshold 姓名 and 公司 are not."""
from __future__ import annotations

from bot import roster
from bot.context import BaseCtx, Ctx

PRIVATE_FIELDS = ("real_name", "company")


async def size_for(ctx: BaseCtx, room_id: str | None) -> int:
    if room_id is not None:
        from models import Group

        group = await ctx.db.get(Group, room_id)
        if group is not None:
            return await roster.group_size(ctx.db, group)
    return await roster.largest_group_size(ctx.db, ctx.community.id)


async def shares_everything(ctx: BaseCtx, room_id: str | None = None) -> bool:
    """Below the threshold (in this group, or the community's largest group for private chats)."""
    if room_id is None and isinstance(ctx, Ctx) and ctx.group is not None:
        room_id = ctx.group.room_id
    return await size_for(ctx, room_id) < ctx.ccfg.privacy_threshold


async def may_see_private(ctx: Ctx) -> bool:
    """姓名 and 公司: for everyone below the threshold; above it for owners, in private chat only."""
    if await shares_everything(ctx):
        return True
    return ctx.is_owner and ctx.is_private
