"""Directory privacy: everything is shared while groups are small; above the threshold 姓名 and 公司 are not.

The directory spans the whole community, so one rule holds everywhere: the community's largest group decides.
"""
from __future__ import annotations

from sqlalchemy import select

from bot.context import BaseCtx, Ctx
from bot.events import Capability
from models import Group

PRIVATE_FIELDS = ("real_name", "company")


async def community_size(ctx: BaseCtx) -> int:
    """Members of the community's largest group. A group whose size the platform cannot tell and config.yaml
    does not give counts as at the threshold, so nothing private leaks by default."""
    counts_members = ctx.can(Capability.MEMBER_LIST)
    sizes = []
    for group in await ctx.db.scalars(select(Group).where(Group.community_id == ctx.community.id, Group.enabled)):
        if group.size_hint or counts_members:
            sizes.append(await ctx.group_size(group))
        else:
            sizes.append(ctx.ccfg.privacy_threshold)
    return max(sizes, default=0)


async def shares_everything(ctx: BaseCtx) -> bool:
    """While every group of the community is below the privacy threshold."""
    return await community_size(ctx) < ctx.ccfg.privacy_threshold


async def may_see_private(ctx: Ctx) -> bool:
    """姓名 and 公司: for everyone below the threshold; above it for owners, in private chat only."""
    if await shares_everything(ctx):
        return True
    return ctx.is_owner and ctx.is_private
