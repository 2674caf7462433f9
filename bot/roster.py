"""The community roster: who is a member, in which rooms, under which name."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import and_, bindparam, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cleaning import clean
from bot.config import CommunityConfig
from bot.events import Member as PlatformMember
from bot.roles import Role
from models import Group, Member, Profile, RoleGrant, RoomMember
from models.db import insert_ignoring_conflicts

# The member and their presence in a room, built once: every command and chat message runs it.
_TOUCH = (select(Member, RoomMember)
          .where(Member.community_id == bindparam("community_id"), Member.user_id == bindparam("user_id"))
          .outerjoin(RoomMember, and_(RoomMember.room_id == bindparam("room_id"),
                                      RoomMember.user_id == bindparam("user_id"))))


async def get_member(db: AsyncSession, community_id: str, user_id: str) -> Member | None:
    return await db.scalar(select(Member).where(Member.community_id == community_id, Member.user_id == user_id))


async def touch(db: AsyncSession, community_id: str, user_id: str, name: str, now: datetime,
                room_id: str | None = None) -> Member:
    """Make sure the user is in the roster under their latest name (and present in `room_id`); one query."""
    params = {"community_id": community_id, "user_id": user_id, "room_id": room_id or ""}
    row = (await db.execute(_TOUCH, params)).first()
    name = clean(name, multiline=False).strip()[:100] or user_id     # a nickname is shown in the bot's lines
    if row is None:
        # Concurrent first sightings (a member list and a command) must not collide: insert if absent.
        await db.execute(insert_ignoring_conflicts(db, Member).values(
            community_id=community_id, user_id=user_id, display_name=name, first_seen_at=now))
        member, presence = (await db.execute(_TOUCH, params)).one()
    else:
        member, presence = row
    if member.display_name != name and name != user_id:
        member.display_name = name
    if room_id is not None:
        if presence is None:
            await db.execute(insert_ignoring_conflicts(db, RoomMember).values(
                room_id=room_id, user_id=user_id, present=True))
        elif not presence.present:
            presence.present, presence.left_at = True, None
    return member


async def _mark_present(db: AsyncSession, room_id: str, user_id: str, now: datetime, *, joined: bool) -> None:
    await db.execute(insert_ignoring_conflicts(db, RoomMember).values(
        room_id=room_id, user_id=user_id, present=True, joined_at=now if joined else None))
    row = await db.get_one(RoomMember, (room_id, user_id))
    if not row.present or joined:
        row.present = True
        row.left_at = None
        if joined:
            row.joined_at = now


async def record_join(db: AsyncSession, community_id: str, room_id: str, user_id: str, name: str,
                      inviter_id: str | None, at: datetime) -> Member:
    member = await touch(db, community_id, user_id, name, at)
    if member.joined_at is None:
        member.joined_at = at
        member.invited_by = inviter_id
    await _mark_present(db, room_id, user_id, at, joined=True)
    return member


async def record_leave(db: AsyncSession, room_id: str, user_id: str, at: datetime) -> None:
    row = await db.get(RoomMember, (room_id, user_id))
    if row is not None:
        row.present = False
        row.left_at = at


async def sync_room(db: AsyncSession, community_id: str, room_id: str, members: Sequence[PlatformMember],
                    at: datetime) -> list[str]:
    """Apply the platform's full member list: listed users are present, everyone else has left (returned: the
    users it found gone)."""
    listed = {m.user_id for m in members}
    for m in members:
        await touch(db, community_id, m.user_id, m.name, at, room_id=room_id)
    gone = await db.scalars(
        update(RoomMember)
        .where(RoomMember.room_id == room_id, RoomMember.present.is_(True), RoomMember.user_id.not_in(listed))
        .values(present=False, left_at=at).returning(RoomMember.user_id)
        .execution_options(synchronize_session=False)
    )
    return sorted(gone)


async def group_size(db: AsyncSession, group: Group) -> int:
    if group.size_hint:
        return group.size_hint
    count = await db.scalar(
        select(func.count()).select_from(RoomMember)
        .where(RoomMember.room_id == group.room_id, RoomMember.present.is_(True))
    )
    return int(count or 0)


async def in_room(db: AsyncSession, room_id: str, user_id: str) -> bool:
    row = await db.get(RoomMember, (room_id, user_id))
    return bool(row and row.present)


# A served group of the community that the user is present in: a condition on Group, run with `community_id` and
# `user_id` bound. Each group's presence row is sought by its key (room_members has no index by user alone).
PRESENT_IN = and_(Group.community_id == bindparam("community_id"), Group.enabled.is_(True),
                  exists().where(RoomMember.room_id == Group.room_id, RoomMember.user_id == bindparam("user_id"),
                                 RoomMember.present.is_(True)))
_GROUPS_OF = select(Group).where(PRESENT_IN).order_by(Group.room_id)


async def groups_of(db: AsyncSession, community_id: str, user_id: str) -> list[Group]:
    """The community's served groups the user is present in (by room id)."""
    return list(await db.scalars(_GROUPS_OF, {"community_id": community_id, "user_id": user_id}))


async def members_by_user(db: AsyncSession, community_id: str, user_ids: Iterable[str]) -> dict[str, Member]:
    ids = list(user_ids)
    if not ids:
        return {}
    rows = await db.scalars(select(Member).where(Member.community_id == community_id, Member.user_id.in_(ids)))
    return {m.user_id: m for m in rows}


async def find_by_name(db: AsyncSession, community_id: str, name: str, *, real_names: bool = False) -> list[Member]:
    """Members shown under `name`; with `real_names`, else those whose profile's 姓名 is `name` (for platforms
    where everyone sees real names and the bot sees only ids, such as WeCom's enterprise directory)."""
    rows = list(await db.scalars(
        select(Member).where(Member.community_id == community_id, Member.display_name == name,
                             Member.deleted_at.is_(None))
    ))
    if rows or not real_names:
        return rows
    return list(await db.scalars(
        select(Member).join(Profile, Profile.member_id == Member.id)
        .where(Member.community_id == community_id, Profile.real_name == name, Member.deleted_at.is_(None))
    ))


async def moderators(db: AsyncSession, cfg: CommunityConfig) -> list[str]:
    """The user ids who moderate the community: its owners and moderators, from config.yaml and from chat."""
    grants = await db.scalars(select(RoleGrant.user_id).where(
        RoleGrant.community_id == cfg.id, RoleGrant.role.in_([Role.OWNER.value, Role.MODERATOR.value])))
    return sorted({*cfg.owners, *cfg.moderators, *grants})
