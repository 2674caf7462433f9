"""Roles per community and what each may do."""
from __future__ import annotations

import enum


class Role(str, enum.Enum):
    MEMBER = "member"
    MODERATOR = "moderator"
    TREASURER = "treasurer"
    OWNER = "owner"


# Those who run the group: owners, treasurers and moderators (everyone but plain members).
STAFF = frozenset({Role.MODERATOR, Role.TREASURER, Role.OWNER})


def allowed(required: Role, held: set[Role]) -> bool:
    """Owners may do everything; other roles only their own and members' commands."""
    return required is Role.MEMBER or Role.OWNER in held or required in held
