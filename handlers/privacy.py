"""Directory privacy: everything is shared while groups are small; above the threshold 姓名 and 公司 are not."""
from __future__ import annotations

from sqlalchemy import select

from bot.context import BaseCtx, Ctx
from models import Group

PRIVATE_FIELDS = ("real_name", "company")


async def size_for(ctx: BaseCtx, room_id: str | None) -> int:
    """The size of this group; in private chat, of the community's largest group."""
    sizes = ctx.app.dispatcher
    if room_id is not None:
        group = await sizes.served_group(room_id) or await ctx.db.get(Group, room_id)
        if group is not None:
            return await sizes.group_size(ctx.db, group)
    groups = await ctx.db.scalars(select(Group).where(Group.community_id == ctx.community.id, Group.enabled))
    return max([await sizes.group_size(ctx.db, g) for g in groups], default=0)


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
