"""config.yaml: loaded once, validated strictly, secrets overridable from the environment."""
from __future__ import annotations

import os
import re
import string
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import ErrorDetails

LOCALES = ("zh_CN", "en")
SHORT_ID = r"[a-z0-9][a-z0-9_-]{0,31}"         # community ids and account names
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Placeholders a nickname format may use, in Chinese or English.
NICKNAME_FIELDS = {
    "城市": "city", "行业": "industry", "职位": "title", "昵称": "nickname", "姓名": "real_name",
    "city": "city", "industry": "industry", "title": "title", "nickname": "nickname", "name": "real_name",
}


class ConfigError(Exception):
    """config.yaml is missing, unreadable or invalid; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _weekly_time(value: str) -> str:
    parse_week_start(value)             # raises with the expected form
    return value


WeeklyTime = Annotated[str, AfterValidator(_weekly_time)]      # '<day> HH:MM', e.g. 'mon 00:00'


class PacingConfig(_Strict):
    min_interval_seconds: float = Field(1.0, ge=0, description="pause between two messages to one chat")
    max_chars: int = Field(2000, ge=100, description="longer texts are split on line boundaries")
    max_queue: int = Field(200, ge=1, description="pending messages per chat before new ones are shed")
    max_attempts: int = Field(5, ge=1)
    retry_base_seconds: float = Field(2.0, gt=0)
    # Platform caps; an adapter tightens these to what its platform allows (WeCom: 20,480 bytes, 30/min, 1000/h).
    max_bytes: int | None = Field(None, ge=100, description="UTF-8 bytes per message; longer texts are split")
    per_minute: int | None = Field(None, ge=1, description="messages per chat in any 60 seconds")
    per_hour: int | None = Field(None, ge=1, description="messages per chat in any hour")

    def within(self, limits: PlatformLimits | None) -> PacingConfig:
        """These settings, tightened to a platform's limits."""
        if limits is None:
            return self

        def tighter(mine: int | None, theirs: int | None) -> int | None:
            return theirs if mine is None else mine if theirs is None else min(mine, theirs)

        return self.model_copy(update={"max_bytes": tighter(self.max_bytes, limits.max_bytes),
                                       "per_minute": tighter(self.per_minute, limits.per_minute),
                                       "per_hour": tighter(self.per_hour, limits.per_hour)})


class PlatformLimits(_Strict):
    """What a platform allows per chat; adapters declare it."""

    max_bytes: int | None = None
    per_minute: int | None = None
    per_hour: int | None = None


class RateLimitConfig(_Strict):
    """Commands per person in a sliding window; past it, one notice, then silence until the window has passed."""

    enabled: bool = Field(True, description="false: no limit at all (qunbot console, where one person types for "
                                            "everyone, turns it off)")
    commands: int = Field(8, ge=1, description="a member's commands per per_seconds")
    per_seconds: float = Field(30, gt=0)
    staff_commands: int = Field(60, ge=1, description="owners', treasurers' and moderators' commands per "
                                                      "staff_per_seconds: only a safety net for a runaway script")
    staff_per_seconds: float = Field(60, gt=0)


class RetentionConfig(_Strict):
    """How long the bot's own bookkeeping is kept; a daily job deletes what is older. Each window is far longer
    than any platform redelivers a message or retries a send."""

    events_days: int = Field(30, ge=1, description="ids of handled messages: a redelivery within this is ignored")
    sent_messages_days: int = Field(30, ge=1, description="outgoing messages done with (sent, failed or dropped); "
                                                          "one still waiting is never deleted")
    job_runs_days: int = Field(90, ge=1, description="run records of announcement jobs (kept, whatever their age, "
                                                     "until their job has passed their period)")
    chat_days: int = Field(180, ge=1, description="the groups' ordinary chat, kept for digests and activity, and "
                                                 "the LLM summaries made of it")


class WechatyConfig(_Strict):
    endpoint: str | None = None
    token: str | None = None
    port: int = Field(0, ge=0, le=65535, description="local port for wechaty's plugin server; 0 = any free port")


class WecomCallbackConfig(_Strict):
    """Callback-URL mode: WeCom POSTs encrypted messages to this endpoint (set the same URL, Token and
    EncodingAESKey in the bot's API-mode settings)."""

    token: str | None = None
    encoding_aes_key: str | None = Field(None, description="43 characters, from the admin console")
    host: str = "0.0.0.0"
    port: int = Field(8080, ge=0, le=65535)
    path: str = "/wecom/callback"
    passive_reply_seconds: float = Field(3.0, ge=0, le=4.5, description="answer inside the HTTP response when "
                                                                         "ready this soon; else via response_url")
    # WeCom gives up on a callback after 5 s without an answer and sends it again, three times at most (developer
    # document 回调配置, path/90930): even a retry that kept the first try's timestamp is about 20 s old. The
    # default leaves room for a host clock a few minutes off.
    max_clock_skew_seconds: int = Field(300, ge=30, description="refuse a callback whose timestamp is further than "
                                                                "this from this host's clock (a replay)")

    @field_validator("encoding_aes_key")
    @classmethod
    def _aes_key(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9+/]{43}", value):
            raise ValueError("the EncodingAESKey is 43 letters and digits, as the admin console shows it")
        return value


class WecomConfig(_Strict):
    """WeCom's AI bot (智能机器人) in API mode."""

    mode: Literal["long_connection", "callback"] = "long_connection"
    bot_id: str | None = None
    secret: str | None = None
    url: str = Field("wss://openws.work.weixin.qq.com", description="the long-connection endpoint")
    heartbeat_seconds: float = Field(30, gt=0, description="ping interval; two unanswered pings drop the link")
    webhook_url: str = Field("https://qyapi.weixin.qq.com/cgi-bin/webhook/send",
                             description="group robot webhook endpoint (scheduled posts in callback mode)")
    callback: WecomCallbackConfig = WecomCallbackConfig()


class AdapterConfig(_Strict):
    type: Literal["console", "simulate", "wechaty", "wecom"] = "console"
    # When the platform connection fails or drops, it is restarted with exponential backoff and jitter.
    retry_max_seconds: float = Field(60, gt=0, description="the longest pause between two restarts")
    max_failures: int | None = Field(None, ge=1, description="give up (exit non-zero) after this many failed "
                                                             "starts in a row; empty = never give up")
    wechaty: WechatyConfig = WechatyConfig()
    wecom: WecomConfig = WecomConfig()


class DatabaseConfig(_Strict):
    url: str = Field("sqlite+aiosqlite:///qunbot.db", description="sqlite:///path or postgresql://user:pw@host/db")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        from models.db import database_url  # here: `qunbot gateway` reads this module, needs no SQLAlchemy

        return database_url(value)


class ScheduleConfig(_Strict):
    """Crontab lines (minute hour day month day-of-week; use day names: mon..sun), community time zone.

    Jobs tied to the week (allowance reset, weekly rewards) run at week_start; the Q&A agenda and its
    reminder follow questions.session.
    """

    post_new_members: str = "0 10 * * mon"
    post_weekly_ranking: str = "0 9 * * mon"
    publish_digest: str = "0 20 * * sun"
    summarise_chat: str = "10 * * * *"
    remind_nicknames: str = "30 10 * * *"
    nudge_idle_members: str = "0 11 * * *"
    list_idle_members: str = "0 10 * * mon"
    send_owner_report: str = "0 9 * * mon"
    post_morning_topic: str = "0 8 * * *"

    @field_validator("*")
    @classmethod
    def _crontab(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value)
        except ValueError as exc:
            raise ValueError(f"not a crontab line (minute hour day month day-of-week): {exc}") from None
        return value


class QuestionsConfig(_Strict):
    session: WeeklyTime = Field("wed 20:00", description="the weekly Q&A session: '<day> HH:MM'")
    cutoff_days: float = Field(2, ge=0, le=6, description="questions asked later than this before a session "
                                                          "go to the next one")
    remind: bool = Field(True, description="post the agenda the day before the session as a reminder")
    session_minutes: int = Field(120, ge=10, le=1440, description="how long a session lasts: an agenda caught up "
                                                                  "after downtime is not posted once it has ended")
    suggest_people: int = Field(3, ge=0, le=10, description="members @-mentioned per question at the session")


class TipsConfig(_Strict):
    weekly_allowance: int = Field(100, ge=1, le=1_000_000, description="points each member may give per week")


class ScoreConfig(_Strict):
    """Weights of the weekly score: quality signals only, never message counts."""

    point_received: int = Field(1, ge=0, le=1000)
    best_answer: int = Field(30, ge=0, le=1000)
    member_helped: int = Field(10, ge=0, le=1000)
    digest_answer: int = Field(20, ge=0, le=1000)


class SpamConfig(_Strict):
    """Anti-spam where the platform shows the bot every message (not WeCom). Off unless switched on here."""

    enabled: bool = Field(False, description="watch the groups' chat for ads and floods")
    links: bool = Field(True, description="links outside allowed_domains are ads")
    allowed_domains: list[str] = Field(["mp.weixin.qq.com", "zhihu.com", "github.com", "juejin.cn", "sspai.com"],
                                       description="a link to one of these (or a subdomain) is fine")
    mini_programs: bool = Field(True, description="mini-program cards are ads")
    contact_cards: bool = Field(True, description="contact cards (名片) are ads")
    qr_codes: bool = Field(True, description="images are read for QR codes")
    ad_qr_patterns: list[str] = Field(
        [r"weixin\.qq\.com/g/", r"u\.wechat\.com/", r"weixin\.qq\.com/r/",
         r"work\.weixin\.qq\.com/(?:u|gm|ca)/"],
        description="regular expressions: a QR code whose text matches one leads to a group or a contact")
    own_qr_codes: list[str] = Field([], description="the community's own group or contact codes (text prefixes)")
    keywords: list[str] = Field(["加微信", "加V信", "刷单", "兼职日结", "代理加盟", "扫码进群", "免费领取"],
                                description="text containing one of these is an ad")
    flood_messages: int = Field(10, ge=2, description="this many messages by one member...")
    flood_seconds: int = Field(30, ge=1, description="...within this many seconds is a flood")
    cross_post_groups: int = Field(2, ge=2, description="the same text in this many groups of the community...")
    cross_post_minutes: int = Field(10, ge=1, description="...within this many minutes is spam")
    cross_post_min_chars: int = Field(15, ge=1, description="shorter texts (好的, 谢谢) are never cross-posts")
    new_member_days: int = Field(3, ge=0, description="members this new get no warning: moderators are told at once")
    window_days: int = Field(7, ge=1, description="earlier offences count towards escalation for this long")
    burst_seconds: int = Field(600, ge=1, description="offences this close together are one burst: one action")
    steps: list[Literal["warn", "report", "remove"]] = Field(
        ["warn", "report", "remove"], min_length=1,
        description="the escalation per burst within window_days; new members skip the first warning")
    confirm_removal: bool = Field(True, description="a removal waits for a moderator's /移出 确认")
    confirm_hours: int = Field(48, ge=1, description="an unconfirmed removal expires after this long")

    @field_validator("ad_qr_patterns")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
        return value

    @field_validator("allowed_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        return [d.strip().lower().lstrip(".") for d in value if d.strip()]


class NicknameConfig(_Strict):
    remind: bool = Field(False, description="suggest a nickname in the format to signed-up members whose does not fit")
    reminders: int = Field(3, ge=0, le=10, description="weekly private reminders after the first suggestion")


class LifecycleConfig(_Strict):
    nudge_days: int = Field(60, ge=7, description="a private nudge after this many days without activity")
    list_days: int = Field(90, ge=14, description="after this many the member is on the moderators' list")

    @field_validator("list_days")
    @classmethod
    def _after_nudge(cls, value: int, info: ValidationInfo) -> int:
        nudge = info.data.get("nudge_days")
        if nudge is not None and value <= nudge:
            raise ValueError("list_days must be more than nudge_days")
        return value


class HygieneConfig(_Strict):
    rules_ack: bool = Field(False, description="members are asked to acknowledge the rules with /群规 确认")
    spam: SpamConfig = SpamConfig()
    nicknames: NicknameConfig = NicknameConfig()
    lifecycle: LifecycleConfig = LifecycleConfig()


def _fen(value: Any) -> int:
    from bot.money import AmountError, parse_amount

    try:
        return parse_amount(str(value))
    except AmountError as exc:
        raise ValueError(f"not an amount in yuan (e.g. 200 or 1,000.50): {exc.reason}") from None


class FundConfig(_Strict):
    entry_fee: str = Field("200", description="yuan; waived for outsiders who win a challenge")
    ops_fee_monthly: str = Field("10", description="yuan per member and month, for the duty moderator's stipend")
    weeks: int = Field(52, ge=1, le=520, description="the reward pool is spread over this many weeks from the "
                                                     "community's start")
    end_date: date | None = Field(None, description="or: spread it until this date")
    top_n: int = Field(3, ge=1, le=20, description="members rewarded each week")
    split: list[int] = Field([50, 30, 20], description="percent of the weekly pool per place, summing to 100")
    exclude_owners: bool = Field(True, description="owners are not rewarded from the fund they run")

    @field_validator("entry_fee", "ops_fee_monthly", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> str:
        _fen(value)
        return str(value)

    @field_validator("split")
    @classmethod
    def _split(cls, value: list[int], info: ValidationInfo) -> list[int]:
        top_n = info.data.get("top_n")
        if top_n is not None and len(value) != top_n:
            raise ValueError(f"give one percentage per rewarded place ({top_n})")
        if any(p <= 0 for p in value) or sum(value) != 100:
            raise ValueError("percentages must be positive and sum to 100")
        return value

    @property
    def entry_fee_fen(self) -> int:
        return _fen(self.entry_fee)

    @property
    def ops_fee_fen(self) -> int:
        return _fen(self.ops_fee_monthly)


TERM = re.compile(r"\A([1-9][0-9]?)\s*([wm])\Z")


class DutyTierConfig(_Strict):
    """A KPI tier: the share of the stipend paid when a shift meets every threshold of it."""

    share: int = Field(ge=0, le=100, description="percent of the stipend")
    answerers: int = Field(0, ge=0, description="at least this many distinct members answered")
    answered_percent: int = Field(0, ge=0, le=100, description="at least this percent of the questions asked got "
                                                               "an answer (no questions: met)")


class DutyConfig(_Strict):
    """The rotating duty moderator: term, stipend from the ops account, KPI tiers."""

    term: str = Field("1w", description="'1w'..'12w' weeks or '1m'..'12m' months, counted from the community's start")
    stipend: str = Field("auto", description="'auto' (the ops balance / terms left to the fund's end) or yuan per "
                                             "term")
    tiers: list[DutyTierConfig] = Field(
        [DutyTierConfig(share=100, answerers=5, answered_percent=70),
         DutyTierConfig(share=50, answerers=2, answered_percent=30)],
        description="the first tier met pays its share; none met: nothing")
    prorate: bool = Field(True, description="a shift shorter than the term is paid by the time served")
    swap_hours: int = Field(48, ge=1, le=720, description="a swap not confirmed within this expires")

    @field_validator("term")
    @classmethod
    def _term(cls, value: str) -> str:
        m = TERM.match(value.strip().lower())
        if m is None or int(m.group(1)) > 12:
            raise ValueError("a term is 1w..12w (weeks) or 1m..12m (months), e.g. '1w', '2m'")
        return value.strip().lower()

    @field_validator("stipend", mode="before")
    @classmethod
    def _stipend(cls, value: Any) -> str:
        if str(value).strip().lower() != "auto":
            _fen(value)
        return str(value).strip()

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, value: list[DutyTierConfig]) -> list[DutyTierConfig]:
        shares = [t.share for t in value]
        if shares != sorted(shares, reverse=True):
            raise ValueError("list the tiers from the highest share down")
        return value

    @property
    def term_length(self) -> tuple[int, str]:
        """(count, 'w' or 'm')."""
        m = TERM.match(self.term)
        assert m is not None
        return int(m.group(1)), m.group(2)

    @property
    def stipend_fen(self) -> int | None:
        """The fixed stipend per term; None: 'auto'."""
        return None if self.stipend.lower() == "auto" else _fen(self.stipend)
class ReportConfig(_Strict):
    """The owners' weekly report (/运营报告) with its chart."""

    weekly: bool = Field(False, description="send it to every owner each week at schedule.send_owner_report")
    owners_room: str | None = Field(None, description="a group of the owners that gets the report where the platform "
                                                      "cannot message owners privately (WeCom)")
    listed: int = Field(10, ge=0, le=100, description="inactive members named per bucket; the rest are counted")


class CheckinConfig(_Strict):
    """Daily check-ins (/签到, /打卡)."""

    min_chars: int = Field(0, ge=0, le=500, description="characters a check-in must say (今天学了…); 0 = none")
    freezes_per_month: int = Field(1, ge=0, le=31, description="missed days a streak survives per calendar month, "
                                                               "each freeze covering one day, applied automatically")
    milestones: dict[int, int] = Field({}, description="streak length in days -> points shown in the check-in "
                                                       "ranking only (never cash, never the sharing ranking)")

    @field_validator("milestones")
    @classmethod
    def _milestones(cls, value: dict[int, int]) -> dict[int, int]:
        if any(days < 1 or points < 1 for days, points in value.items()):
            raise ValueError("give positive streak lengths and points, e.g. {7: 5, 30: 20}")
        return value


class MorningConfig(_Strict):
    """The daily morning post: the day's topic and the coming guest talks."""

    enabled: bool = Field(False, description="post it at schedule.post_morning_topic")
    topics: list[str] = Field([], description="topics used one a day in turn; empty = the open questions")
    quiet_days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        [], description="weekdays without the post, e.g. [sat, sun]")


class TalksConfig(_Strict):
    """Guest talks (/分享会)."""

    default_minutes: int = Field(60, ge=10, le=600, description="how long a talk lasts when not given")
    qa_minutes: int = Field(20, ge=0, le=120, description="the talk's last minutes are open for questions")


def _account(value: str) -> str:
    if not re.fullmatch(SHORT_ID, value):
        raise ValueError("name an account with 1-32 lowercase letters, digits, '-' or '_' (e.g. wechat, wecom)")
    return value


# The name of a bot account: the one a process runs as (`account:`), or the one serving a group.
Account = Annotated[str, AfterValidator(_account)]


# What a tier can switch on or off per group (handler modules); the rest (help, signup and profile, roles, groups,
# tiers, exports) runs everywhere.
FEATURES = ("directory", "questions", "sessions", "search", "tips", "rewards", "ranking", "fund", "challenges",
            "welcome", "digest", "summaries", "history", "tags", "invites", "archive")


class TierConfig(_Strict):
    """A kind of group (引流群, 正式群, 核心群): which features run in its groups, its rules, how to join it."""

    name: str = Field(min_length=1, max_length=40)
    aliases: list[str] = Field([], description="other names owners may type, e.g. core")
    features: list[str] | None = Field(None, description="the features that run in its groups; empty = all")
    rules: list[str] = Field([], description="its groups' rules, in their welcome; empty = the community's")
    invitation: str | None = Field(None, max_length=500, description="sent to a member promoted to it: how to "
                                                                     "join (e.g. add the owner's WeChat)")

    @field_validator("features")
    @classmethod
    def _features(cls, value: list[str] | None) -> list[str] | None:
        unknown = [f for f in value or () if f not in FEATURES]
        if unknown:
            raise ValueError(f"unknown feature {unknown[0]!r}; features are {', '.join(FEATURES)}")
        return value

    def named(self, word: str) -> bool:
        return word.lower() in (n.lower() for n in (self.name, *self.aliases))

    def runs(self, feature: str) -> bool:
        """Whether `feature` runs in this tier's groups (always, for what no tier switches)."""
        return self.features is None or feature not in FEATURES or feature in self.features


class InvitesConfig(_Strict):
    redeem_days: int = Field(7, ge=0, le=365, description="an invite code counts when redeemed this many days "
                                                          "after joining at most; else the platform's inviter")
    reward_after_weeks: int = Field(4, ge=1, le=104, description="an invitee who signed up and is still in after "
                                                                 "this many weeks earns the inviter the reward")
    reward_points: int = Field(0, ge=0, le=1_000_000, description="points per such invitee (never in the "
                                                                  "sharing ranking); 0 = none")
    reward_cash: str | None = Field(None, description="yuan per such invitee, paid from the reward pool as a "
                                                      "payable; empty = none")

    @field_validator("reward_cash", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> str | None:
        if value is None:
            return None
        _fen(value)
        return str(value)

    @property
    def reward_cash_fen(self) -> int:
        return _fen(self.reward_cash) if self.reward_cash is not None else 0

    @property
    def rewarded(self) -> bool:
        return self.reward_points > 0 or self.reward_cash_fen > 0


class GroupConfig(_Strict):
    room: str = Field(min_length=1)
    name: str | None = None
    tier: str | None = Field(None, description="one of the community's tiers; empty = every feature runs")
    size: int | None = Field(None, ge=1, description="member count, for platforms that cannot list members")
    webhook_key: str | None = Field(None, description="WeCom group robot key: scheduled posts in callback mode")
    account: Account | None = Field(None, description="the bot account (process) that serves this group; empty = "
                                                      "the only one. Several processes on one database: give each "
                                                      "group its account")


class CommunityConfig(_Strict):
    id: str
    name: str = Field(min_length=1)
    owners: list[str] = Field(min_length=1)
    moderators: list[str] = []
    treasurers: list[str] = []
    locale: Literal["zh_CN", "en"] | None = None
    timezone: str | None = None
    privacy_threshold: int = Field(100, ge=1)
    nickname_format: str = "{城市}-{行业}-{昵称}"
    week_start: WeeklyTime = "mon 00:00"
    rules: list[str] = Field([], description="group rules, summarised in the welcome; empty = the locale's default")
    tiers: list[TierConfig] = []         # before groups: a group's tier is checked against them
    groups: list[GroupConfig] = []
    schedule: ScheduleConfig = ScheduleConfig()
    questions: QuestionsConfig = QuestionsConfig()
    tips: TipsConfig = TipsConfig()
    score: ScoreConfig = ScoreConfig()
    fund: FundConfig = FundConfig()
    duty: DutyConfig = DutyConfig()
    hygiene: HygieneConfig = HygieneConfig()
    invites: InvitesConfig = InvitesConfig()

    @field_validator("groups")
    @classmethod
    def _group_tiers(cls, groups: list[GroupConfig], info: ValidationInfo) -> list[GroupConfig]:
        tiers = info.data.get("tiers")
        for g in groups:
            if g.tier is not None and not any(t.name == g.tier for t in tiers or ()):
                raise ValueError(f"group '{g.room}': tier '{g.tier}' is not among the community's tiers")
        return groups

    def tier(self, word: str) -> TierConfig | None:
        """The tier `word` names (its name or an alias, any case)."""
        return next((t for t in self.tiers if t.named(word)), None)
    report: ReportConfig = ReportConfig()
    checkin: CheckinConfig = CheckinConfig()
    morning: MorningConfig = MorningConfig()
    talks: TalksConfig = TalksConfig()

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not re.fullmatch(SHORT_ID, value):
            raise ValueError("use 1-32 lowercase letters, digits, '-' or '_'")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return _check_timezone(value) if value is not None else None

    @field_validator("nickname_format")
    @classmethod
    def _nickname(cls, value: str) -> str:
        names = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
        unknown = [n for n in names if n not in NICKNAME_FIELDS]
        if unknown or not names:
            raise ValueError(f"placeholders must be among {{{'}, {'.join(NICKNAME_FIELDS)}}}")
        return value


class LlmConfig(_Strict):
    """An OpenAI-compatible chat-completions endpoint for digest summaries (DeepSeek, Qwen through DashScope's
    compatible mode, Moonshot, Zhipu, a local server); used only in groups an owner switched on (/周报 AI 开)."""

    base_url: str = Field(min_length=1, description="e.g. https://api.deepseek.com/v1")
    model: str = Field(min_length=1, description="e.g. deepseek-chat, qwen-plus, moonshot-v1-8k, glm-4-flash")
    api_key_env: str | None = Field("QUNBOT_LLM_API_KEY", description="the environment variable holding the API "
                                                                      "key; empty = a local server without one")
    timeout_seconds: float = Field(30, gt=0, le=600, description="per request; slower counts as a failure")
    batch_messages: int = Field(40, ge=3, le=500, description="a topic's messages are summarised in batches of "
                                                              "this many, each once")
    weekly_token_budget: int = Field(100_000, ge=0, description="tokens per community and week, as the API "
                                                                "reports them; past it, excerpts instead")
    max_tokens: int = Field(400, ge=50, le=4000, description="the longest answer asked for")
    summary_chars: int = Field(240, ge=20, le=2000, description="a longer topic summary is junk")
    opening_chars: int = Field(400, ge=20, le=4000, description="a longer opening paragraph is junk")
    requests_per_run: int = Field(20, ge=1, le=1000, description="requests per run of the summarise_chat job")


class Config(_Strict):
    account: Account = Field("main", description="the bot account this process runs as; processes sharing one "
                                                 "database each have their own")
    locale: Literal["zh_CN", "en"] = "zh_CN"
    timezone: str = "Asia/Shanghai"
    database: DatabaseConfig = DatabaseConfig()
    adapter: AdapterConfig = AdapterConfig()
    bot_names: list[str] = ["qunbot", "群助手"]
    pacing: PacingConfig = PacingConfig()
    rate_limit: RateLimitConfig = RateLimitConfig()
    signup_timeout_minutes: int = Field(30, ge=1)
    welcome_quiet_seconds: int = Field(5, ge=0, description="a welcome waits until no one has joined for this "
                                       "long; joins meanwhile share it")
    welcome_window_seconds: int = Field(60, ge=0, description="a welcome goes out at most this long after the "
                                        "first of its joins, however many follow")
    retention: RetentionConfig = RetentionConfig()
    llm: LlmConfig | None = Field(None, description="optional digest summaries by an LLM; empty = none")
    exports_dir: str = Field("exports", min_length=1, description="where owners' exports are written (readable by "
                                                                  "the bot's user only)")
    charts_dir: str = Field("charts", description="where report charts are written (PNG), relative to the "
                                                  "working directory")
    communities: list[CommunityConfig] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _check_timezone(value)

    @field_validator("communities")
    @classmethod
    def _unique(cls, communities: list[CommunityConfig]) -> list[CommunityConfig]:
        # A field validator (not a model one), so the error names the key: "communities: room 'r1' ...".
        seen_ids: set[str] = set()
        room_owner: dict[str, str] = {}
        for c in communities:
            if c.id in seen_ids:
                raise ValueError(f"community id '{c.id}' appears twice")
            seen_ids.add(c.id)
            for g in c.groups:
                if g.room in room_owner:
                    where = f"twice in '{c.id}'" if room_owner[g.room] == c.id else \
                        f"in both '{room_owner[g.room]}' and '{c.id}'"
                    raise ValueError(f"room '{g.room}' is listed {where}; a room belongs to one community")
                room_owner[g.room] = c.id
        return communities

    def community(self, community_id: str) -> CommunityConfig:
        """The configured community `community_id` (KeyError if config.yaml no longer lists it)."""
        for community in self.communities:
            if community.id == community_id:
                return community
        raise KeyError(community_id)

    def has_community(self, community_id: str) -> bool:
        return any(community.id == community_id for community in self.communities)

    def community_locale(self, community: CommunityConfig) -> str:
        return community.locale or self.locale

    def community_tz(self, community: CommunityConfig) -> ZoneInfo:
        return ZoneInfo(community.timezone or self.timezone)


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{value}' (e.g. Asia/Shanghai)") from None
    return value


def parse_week_start(value: str) -> tuple[int, int, int]:
    """'mon 00:00' -> (weekday 0-6, hour, minute)."""
    m = re.fullmatch(r"\s*([a-z]{3})\s+(\d{1,2}):(\d{2})\s*", value.lower())
    if not m or m.group(1) not in WEEKDAYS or int(m.group(2)) > 23 or int(m.group(3)) > 59:
        raise ValueError("expected '<day> HH:MM' with day one of mon..sun, e.g. 'mon 00:00'")
    return WEEKDAYS.index(m.group(1)), int(m.group(2)), int(m.group(3))


ENV_OVERRIDES = {
    "QUNBOT_ACCOUNT": ("account",),
    "QUNBOT_DATABASE_URL": ("database", "url"),
    "QUNBOT_ADAPTER": ("adapter", "type"),
    "WECHATY_PUPPET_SERVICE_ENDPOINT": ("adapter", "wechaty", "endpoint"),
    "WECHATY_PUPPET_SERVICE_TOKEN": ("adapter", "wechaty", "token"),
    "WECOM_BOT_ID": ("adapter", "wecom", "bot_id"),
    "WECOM_BOT_SECRET": ("adapter", "wecom", "secret"),
    "WECOM_CALLBACK_TOKEN": ("adapter", "wecom", "callback", "token"),
    "WECOM_ENCODING_AES_KEY": ("adapter", "wecom", "callback", "encoding_aes_key"),
}


def _apply_env(raw: dict[str, Any], env: dict[str, str]) -> None:
    for var, path in ENV_OVERRIDES.items():
        if env.get(var):
            node = raw
            for key in path[:-1]:
                node = node.setdefault(key, {})
                if not isinstance(node, dict):
                    break
            else:
                node[path[-1]] = env[var]


def _describe(error: ErrorDetails) -> str:
    where = ".".join(str(p) for p in error["loc"]) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{where}: unknown key"
    if kind == "missing":
        return f"{where}: required key is missing"
    msg = error["msg"].removeprefix("Value error, ")
    return f"{where}: {msg}"


def parse_config(raw: Any, env: dict[str, str] | None = None, source: str = "config.yaml") -> Config:
    """Validate an already-parsed YAML document; raise ConfigError naming each bad key."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    raw = _deep_copy(raw)
    _apply_env(raw, dict(os.environ) if env is None else env)
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        lines = [_describe(e) for e in exc.errors()]
        raise ConfigError(f"{source} is invalid:\n  " + "\n  ".join(lines)) from None


def load_config(path: str | Path, env: dict[str, str] | None = None) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    return parse_config(raw, env, source=str(path))


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value
