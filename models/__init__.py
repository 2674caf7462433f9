"""Tables, one module per aggregate, and the database setup."""
from models.base import Base
from models.checkins import CheckIn
from models.community import Community, DmChoice, Group, HeardBy, Member, RoleGrant, RoomMember
from models.digests import Digest, DigestCorrection, DigestPick
from models.duty import DutyMember, DutyRoute, DutyShift, DutyState, DutySwap
from models.events import ProcessedEvent
from models.flows import Flow
from models.growth import ArchiveSetting, InviteCode, MemberTag, Promotion, Referral
from models.history import ActivityDay, ChatMessage
from models.hygiene import MemberNotice, ModerationAction, RulesAck, RulesVersion, WhitelistEntry
from models.jobs import JobCursor, JobRun, Timer
from models.ledger import LedgerAccount, LedgerEntry
from models.outbox import OutboxMessage
from models.profile import Profile, ProfileTerm
from models.questions import Answer, Challenger, Question
from models.ranking import ScoreTotal, WeeklyResult
from models.search import SearchPosting, SearchScope
from models.summaries import DigestOpening, LlmUsage, SummarySetting, TopicSummary
from models.talks import Talk, TalkQuestion, TalkVote

__all__ = [
    "Base", "Community", "DmChoice", "Group", "HeardBy", "Member", "RoleGrant", "RoomMember", "ProcessedEvent",
    "JobCursor", "JobRun", "OutboxMessage", "Flow", "ChatMessage", "ActivityDay", "Profile", "ProfileTerm",
    "LedgerAccount", "LedgerEntry", "Question", "Answer", "Challenger", "WeeklyResult", "ScoreTotal",
    "Digest", "DigestPick", "DigestCorrection", "SearchScope", "SearchPosting", "SummarySetting", "TopicSummary",
    "DigestOpening", "LlmUsage", "DutyMember", "DutyState", "DutyShift", "DutySwap", "DutyRoute",
    "RulesVersion", "RulesAck", "WhitelistEntry", "ModerationAction", "MemberNotice",
    "MemberTag", "InviteCode", "Referral", "Promotion", "ArchiveSetting",
    "CheckIn", "Timer", "Talk", "TalkQuestion", "TalkVote",
]
