"""Tables, one module per aggregate, and the database setup."""
from models.base import Base
from models.community import Community, DmChoice, Group, Member, RoleGrant, RoomMember
from models.events import ProcessedEvent
from models.jobs import JobCursor, JobRun
from models.outbox import OutboxMessage
from models.profile import Flow, Profile, ProfileTerm

__all__ = [
    "Base", "Community", "DmChoice", "Group", "Member", "RoleGrant", "RoomMember", "ProcessedEvent",
    "JobCursor", "JobRun", "OutboxMessage", "Flow", "Profile", "ProfileTerm",
]
