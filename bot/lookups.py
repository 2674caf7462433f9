"""What every command reads and seldom changes: served groups, role grants, group sizes, communities.

A change made in this process clears its entry once committed; one made by another bot process on the same
database is seen after CACHE_TIME (on the bot's clock, so simulated time ages the cache too).
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import roster
from bot.clock import Clock
from bot.config import Config
from bot.roles import Role
from models import Community, Group, RoleGrant

CACHE_TIME = timedelta(seconds=30)


class Lookups:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], config: Config, clock: Clock) -> None:
        self.sessions = sessions
        self.config = config
        self.clock = clock
        self._groups: dict[str, tuple[datetime, Group | None]] = {}
        self._grants: dict[str, tuple[datetime, dict[str, set[Role]]]] = {}
        self._sizes: dict[str, tuple[datetime, int]] = {}
        self._communities: dict[str, Community] = {}

    def _fresh(self, stamped: datetime) -> bool:
        return self.clock.now() - stamped < CACHE_TIME

    async def served_group(self, room_id: str) -> Group | None:
        """The enabled group of `room_id` (a detached snapshot: load it into the session to change it)."""
        hit = self._groups.get(room_id)
        if hit is not None and self._fresh(hit[0]):
            return hit[1]
        async with self.sessions() as db:
            group = await db.get(Group, room_id)
        served = group if group is not None and group.enabled and self.config.has_community(group.community_id) \
            else None
        self._groups[room_id] = (self.clock.now(), served)
        return served

    def forget_group(self, room_id: str) -> None:
        self._groups.pop(room_id, None)
        self._sizes.pop(room_id, None)

    async def community(self, db: AsyncSession, community_id: str) -> Community:
        community = self._communities.get(community_id)
        if community is None:
            community = await db.get(Community, community_id)
            if community is None:
                raise KeyError(community_id)
            db.expunge(community)   # a snapshot: a later rollback of this session must not expire it
            self._communities[community_id] = community
        return community

    def cached_roles(self, community_id: str, user_id: str) -> set[Role] | None:
        """roles_of() without a database session, when the grants are cached; None when they must be read."""
        hit = self._grants.get(community_id)
        if hit is None or not self._fresh(hit[0]):
            return None
        return self._configured_roles(community_id, user_id) | hit[1].get(user_id, set())

    def _configured_roles(self, community_id: str, user_id: str) -> set[Role]:
        cfg = self.config.community(community_id)
        held = {Role.MEMBER}
        for role, ids in ((Role.OWNER, cfg.owners), (Role.MODERATOR, cfg.moderators),
                          (Role.TREASURER, cfg.treasurers)):
            if user_id in ids:
                held.add(role)
        return held

    async def roles_of(self, db: AsyncSession, community_id: str, user_id: str) -> set[Role]:
        held = self._configured_roles(community_id, user_id)
        hit = self._grants.get(community_id)
        if hit is None or not self._fresh(hit[0]):
            grants: dict[str, set[Role]] = defaultdict(set)   # a short table: load it whole
            for uid, granted in await db.execute(select(RoleGrant.user_id, RoleGrant.role)
                                                 .where(RoleGrant.community_id == community_id)):
                grants[uid].add(Role(granted))
            hit = self._grants[community_id] = (self.clock.now(), dict(grants))
        return held | hit[1].get(user_id, set())

    def forget_roles(self, community_id: str) -> None:
        self._grants.pop(community_id, None)

    async def group_size(self, db: AsyncSession, group: Group) -> int:
        """Members present in the group (or its configured size)."""
        hit = self._sizes.get(group.room_id)
        if hit is None or not self._fresh(hit[0]):
            hit = self._sizes[group.room_id] = (self.clock.now(), await roster.group_size(db, group))
        return hit[1]

    def forget_size(self, room_id: str) -> None:
        self._sizes.pop(room_id, None)
