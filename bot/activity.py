"""Who counts as active — one definition for digests, the owner's report and lifecycle.

A member is active in a period if in it they sent a message the bot saw (in a group that keeps its chat), a
command, a question, an answer, a tip or a check-in (a day a streak freeze covered is not activity). Reading alone
is invisible to the bot and does not count. Members are named by their platform user id.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from models import ActivityDay, Answer, ChatMessage, CheckIn, Group, LedgerEntry, Member, Question
from models.db import plain_rows
from models.ledger import POINTS


async def active_members(db: AsyncSession, community_id: str, start: datetime, end: datetime,
                         tz: ZoneInfo) -> set[str]:
    """The user ids active in [start, end); commands are counted per calendar day in `tz` (the community's), so a
    day the period touches counts whole."""

    def by_member(member_id: InstrumentedAttribute[Any], at: InstrumentedAttribute[Any],
                  *where: ColumnElement[bool]) -> Select[str]:
        # The item's own community_id too, so its (community, time) index finds the period's rows.
        item = member_id.class_
        return (select(Member.user_id).join(item, Member.id == member_id)
                .where(Member.community_id == community_id, item.community_id == community_id, at >= start, at < end,
                       *where))

    first_day, last_day = start.astimezone(tz).date(), (end - timedelta(microseconds=1)).astimezone(tz).date()
    found = await plain_rows(db, union(
        # By the community's groups, so each group's (room, time) index finds the period's messages (its own
        # community index would read every message it ever kept).
        select(ChatMessage.sender_id).where(ChatMessage.room_id.in_(
            select(Group.room_id).where(Group.community_id == community_id)),
            ChatMessage.sent_at >= start, ChatMessage.sent_at < end),
        select(ActivityDay.user_id).where(ActivityDay.community_id == community_id, ActivityDay.commands > 0,
                                          ActivityDay.day >= first_day, ActivityDay.day <= last_day),
        by_member(Question.asker_id, Question.asked_at),
        by_member(Answer.author_id, Answer.answered_at),
        by_member(LedgerEntry.actor_id, LedgerEntry.created_at, LedgerEntry.unit == POINTS, LedgerEntry.kind == "tip"),
        by_member(CheckIn.member_id, CheckIn.at, CheckIn.frozen.is_(False)),
    ))
    return {user_id for user_id, in found if not user_id.startswith("deleted:")}
