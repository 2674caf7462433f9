"""The duty moderator's terms and KPIs: term periods computed from the community's start, and the figures of a
shift, always computed from what happened (never typed in). A report can call term_kpis() and format_kpis()."""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import i18n
from bot.config import CommunityConfig, DutyTierConfig, parse_week_start
from bot.weeks import week_start
from models import Answer, Community, Digest, LedgerEntry, Question
from models.digests import PUBLISHED
from models.duty import DutyRoute
from models.ledger import POINTS

DAY = timedelta(days=1)


# ---- terms -------------------------------------------------------------------------------------------------------

def _anchor(ccfg: CommunityConfig, tz: ZoneInfo, started_at: datetime) -> datetime:
    """The start of the community's first term: its first week's start, or the first of its first month (at the
    week's time of day)."""
    _, unit = ccfg.duty.term_length
    if unit == "w":
        return week_start(started_at, tz, ccfg.week_start)
    _, hour, minute = parse_week_start(ccfg.week_start)
    local = started_at.astimezone(tz)
    first = datetime(local.year, local.month, 1, hour, minute, tzinfo=tz)
    return first if first <= local else _shift(first, -1, "m", tz)


def _shift(at: datetime, n: int, unit: str, tz: ZoneInfo) -> datetime:
    """`at` moved by n weeks or months on the wall clock (a DST change keeps the time of day)."""
    local = at.astimezone(tz)
    if unit == "w":
        day = local.date() + timedelta(weeks=n)
        return datetime(day.year, day.month, day.day, local.hour, local.minute, tzinfo=tz)
    year, month = divmod(local.month - 1 + n, 12)
    return datetime(local.year + year, month + 1, 1, local.hour, local.minute, tzinfo=tz)


def term_of(ccfg: CommunityConfig, tz: ZoneInfo, started_at: datetime, at: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the term containing `at`."""
    count, unit = ccfg.duty.term_length
    anchor = _anchor(ccfg, tz, started_at)
    local, first = at.astimezone(tz), anchor.astimezone(tz)
    if unit == "w":
        k = (local.date() - first.date()).days // (7 * count)
    else:
        k = ((local.year - first.year) * 12 + local.month - first.month) // count
    start = _shift(anchor, k * count, unit, tz)
    while start > at:
        k -= 1
        start = _shift(anchor, k * count, unit, tz)
    while (end := _shift(anchor, (k + 1) * count, unit, tz)) <= at:
        k += 1
        start = end
    return start, end


def terms_left(ccfg: CommunityConfig, tz: ZoneInfo, started_at: datetime, end_of_term: datetime,
               fund_end: datetime) -> int:
    """Terms ending from `end_of_term` (that one included) to the fund's end; at least 1."""
    count = 1
    at = end_of_term
    while True:
        _, at = term_of(ccfg, tz, started_at, at)
        if at > fund_end:
            return count
        count += 1


# ---- KPIs --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Term:
    """One shift: a member on duty from `start` to `end` (the term's end, or when they handed over)."""

    start: datetime
    end: datetime
    member_id: int | None          # None: nobody was on duty (the owners held it)
    user_id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Kpis:
    answerers: int                 # distinct members who answered
    answers: int
    asked: int                     # questions asked during the term
    answered: int                  # ...of them with an answer before its end
    resolved: int                  # questions given a best answer during the term
    median_first_answer: timedelta | None    # from a question asked in the term to its first answer
    routes: int                    # questions the moderator routed to a member (/值班 邀答)
    routed_answered: int           # ...that the member then answered
    digests_by_moderator: int      # weekly digests the moderator published
    digests_auto: int              # weekly digests the job published because nobody had
    points: int                    # points received by answers during the term

    @property
    def unanswered(self) -> int:
        return self.asked - self.answered

    @property
    def answered_percent(self) -> int:
        """Of the questions asked, the percent answered (100 when none were asked: nothing was left undone)."""
        return 100 if not self.asked else self.answered * 100 // self.asked


def _visible_answers(community_id: str, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(Answer.community_id == community_id, Answer.answered_at >= start, Answer.answered_at < end,
                Answer.hidden.is_(False), Question.id == Answer.question_id, Question.hidden.is_(False))


async def term_kpis(db: AsyncSession, community: Community, term: Term) -> Kpis:
    """The KPI figures of one shift, from the questions, answers, routes, digests and tips in it."""
    cid, start, end = community.id, term.start, term.end
    answers = (await db.execute(select(func.count(Answer.id), func.count(func.distinct(Answer.author_id)))
                                .select_from(Answer).join(Question, Question.id == Answer.question_id)
                                .where(_visible_answers(cid, start, end)))).one()
    first = (select(Answer.question_id, func.min(Answer.answered_at).label("first"))
             .join(Question, Question.id == Answer.question_id)
             .where(Answer.community_id == cid, Answer.hidden.is_(False), Answer.answered_at < end)
             .group_by(Answer.question_id).subquery())
    asked = (await db.execute(
        select(Question.asked_at, first.c.first).outerjoin(first, first.c.question_id == Question.id)
        .where(Question.community_id == cid, Question.hidden.is_(False), Question.asked_at >= start,
               Question.asked_at < end))).all()
    waits = [f - a for a, f in asked if f is not None]
    resolved = await db.scalar(select(func.count()).select_from(Question).where(
        Question.community_id == cid, Question.hidden.is_(False), Question.best_marked_at >= start,
        Question.best_marked_at < end)) or 0
    routes = answered_routes = 0
    if term.member_id is not None:
        answered = exists().where(Answer.question_id == DutyRoute.question_id, Answer.author_id == DutyRoute.member_id,
                                  Answer.hidden.is_(False), Answer.answered_at >= DutyRoute.routed_at,
                                  Answer.answered_at < end)
        routes, answered_routes = (await db.execute(
            select(func.count(DutyRoute.id), func.count(DutyRoute.id).filter(answered)).where(
                DutyRoute.community_id == cid, DutyRoute.by_member_id == term.member_id,
                DutyRoute.routed_at >= start, DutyRoute.routed_at < end))).one()
    digests = (await db.execute(select(Digest.published_by, Digest.auto).where(
        Digest.community_id == cid, Digest.status == PUBLISHED, Digest.kind == "week",
        Digest.published_at >= start, Digest.published_at < end))).all()
    points = await db.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
        LedgerEntry.community_id == cid, LedgerEntry.unit == POINTS, LedgerEntry.kind == "tip",
        LedgerEntry.answer_id.is_not(None), LedgerEntry.created_at >= start, LedgerEntry.created_at < end))
    return Kpis(answerers=int(answers[1]), answers=int(answers[0]), asked=len(asked), answered=len(waits),
                resolved=int(resolved), median_first_answer=statistics.median(waits) if waits else None,
                routes=int(routes), routed_answered=int(answered_routes),
                digests_by_moderator=sum(1 for by, auto in digests if term.user_id and by == term.user_id),
                digests_auto=sum(1 for _, auto in digests if auto), points=int(points or 0))


def tier_of(tiers: list[DutyTierConfig], kpis: Kpis) -> int | None:
    """The index of the first tier whose thresholds the figures meet; None: none (nothing is paid)."""
    for i, tier in enumerate(tiers):
        if kpis.answerers >= tier.answerers and kpis.answered_percent >= tier.answered_percent:
            return i
    return None


def _hours(wait: timedelta | None, locale: str) -> str:
    if wait is None:
        return i18n.t(locale, "duty.kpi_no_wait")
    return i18n.t(locale, "duty.kpi_hours", hours=f"{wait / timedelta(hours=1):.1f}")


def format_kpis(locale: str, kpis: Kpis) -> list[str]:
    """The figures as lines a member reads (the owner's report can use them as they are)."""
    return [
        i18n.t(locale, "duty.kpi_answers", answerers=kpis.answerers, answers=kpis.answers, points=kpis.points),
        i18n.t(locale, "duty.kpi_questions", asked=kpis.asked, answered=kpis.answered, percent=kpis.answered_percent,
               unanswered=kpis.unanswered, resolved=kpis.resolved, wait=_hours(kpis.median_first_answer, locale)),
        i18n.t(locale, "duty.kpi_routes", routes=kpis.routes, answered=kpis.routed_answered),
        i18n.t(locale, "duty.kpi_digests", mine=kpis.digests_by_moderator, auto=kpis.digests_auto),
    ]


def tier_rule(locale: str, tiers: list[DutyTierConfig]) -> str:
    """The tier rule as one line: '答题人≥5 且答复率≥70%：100%；…；其余：0'."""
    parts = [i18n.t(locale, "duty.tier_part", answerers=t.answerers, percent=t.answered_percent, share=t.share)
             for t in tiers]
    return i18n.t(locale, "common.list_sep").join([*parts, i18n.t(locale, "duty.tier_rest")])
