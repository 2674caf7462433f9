"""Multi-step conversations with one member (guided signup, asking a question step by step, and every later
flow): at most one per member and community, run in private where the platform allows and in the group as a
fallback, ended by a timeout.

A capability opens a flow with its own `kind`, registers a text hook (Router.on_text) that takes the member's next
plain message when `load_flow` finds a flow of that kind in that chat, and deletes the flow when it is done. A flow
whose result belongs to a group (a question is announced there) keeps that group in its data: started in a group it
moves to private chat where the platform can send one, so the chat it runs in no longer says which group it was.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot import roster
from bot.context import BaseCtx, Ctx, addressed
from bot.events import Capability, ChatRef
from models import Flow

# Replies that skip a step (or, where a step cannot be skipped, give up).
SKIP_WORDS = {"跳过", "skip", "-", "无", "none"}


async def load_flow(ctx: BaseCtx, user_id: str) -> Flow | None:
    return await ctx.db.scalar(select(Flow).where(Flow.community_id == ctx.community.id, Flow.user_id == user_id))


def flow_expired(ctx: BaseCtx, flow: Flow) -> bool:
    return flow.expires_at <= ctx.now


def flow_timeout(ctx: BaseCtx) -> timedelta:
    return timedelta(minutes=ctx.config.signup_timeout_minutes)


async def open_flow(ctx: Ctx, chat: ChatRef, kind: str, step: str, data: dict[str, Any]) -> Flow:
    """Start a multi-step flow with the sender in `chat`, replacing any flow they had running."""
    flow = await load_flow(ctx, ctx.sender_id)
    if flow is not None:
        await ctx.db.delete(flow)
        await ctx.db.flush()
    flow = Flow(community_id=ctx.community.id, user_id=ctx.sender_id, kind=kind, step=step, chat_key=chat.key,
                data=data, expires_at=ctx.now + flow_timeout(ctx))
    ctx.db.add(flow)
    return flow


def flow_chat(ctx: Ctx) -> ChatRef:
    """Where a multi-step flow runs: in private where the platform allows, else in the group (the fallback)."""
    if ctx.is_private or ctx.can(Capability.CAN_DM):
        return ChatRef(user_id=ctx.sender_id)
    return ctx.chat


async def origin_room(ctx: Ctx) -> str | None:
    """The group a flow started now belongs to: the one it is started in; started in private, the community's group
    the member is in (of several, the first in config.yaml's order, then those enabled from chat, earliest first);
    None when they are in none the bot knows of."""
    if ctx.group is not None:
        return ctx.group.room_id
    groups = await roster.groups_of(ctx.db, ctx.community.id, ctx.sender_id)
    if not groups:
        return None
    listed = [g.room for g in ctx.ccfg.groups]
    first = min(groups, key=lambda g: (listed.index(g.room_id) if g.room_id in listed else len(listed),
                                       g.enabled_at.timestamp() if g.enabled_at else 0.0, g.room_id))
    return first.room_id


async def tell(ctx: Ctx, chat: ChatRef, text: str) -> None:
    """A flow message; in a group (the fallback) it @-mentions the member so they know it is theirs."""
    if chat.room_id is None:
        await ctx.post(chat, text)
    else:
        await ctx.post(chat, addressed(ctx.member.display_name, text), mentions=(ctx.sender_id,))
