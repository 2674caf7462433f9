"""The weekly score and the ranking: quality signals only (points received, best answers, members helped,
answers picked for a digest), never message counts; explained line by line on request."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute

from bot.config import ScoreConfig
from bot.context import BaseCtx, Ctx, JobCtx
from bot.errors import CommandError
from bot.money import format_fen
from bot.roles import Role
from bot.router import Router
from models import Answer, DigestPick, JobCursor, LedgerEntry, Member, Question, RoleGrant, ScoreTotal, WeeklyResult
from models.base import table
from models.db import insert_ignoring_conflicts
from models.ledger import POINTS, lock_community

router = Router()
SHOWN = 10


@dataclass
class Score:
    member_id: int
    points: int = 0
    best_answers: int = 0
    helped: int = 0
    digest_answers: int = 0        # answers picked for a weekly digest; digests are compiled by moderators

    def total(self, w: ScoreConfig) -> int:
        return (self.points * w.point_received + self.best_answers * w.best_answer + self.helped * w.member_helped
                + self.digest_answers * w.digest_answer)

    def plus(self, other: Score, sign: int = 1) -> Score:
        return Score(self.member_id, *(getattr(self, f.name) + sign * getattr(other, f.name)
                                       for f in fields(self)[1:]))

    def minus(self, other: Score) -> Score:
        return self.plus(other, -1)

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self)[1:])


async def excluded(ctx: BaseCtx) -> set[int]:
    """Members left out of the ranking: owners when fund.exclude_owners (they run the fund), and deleted members.
    Read once a transaction (the all-time ranking needs it three times)."""
    if (memo := ctx.memo.get("ranking.excluded")) is not None:
        return set(memo)
    ids: set[int] = set(await ctx.db.scalars(select(Member.id).where(
        Member.community_id == ctx.community.id, Member.deleted_at.is_not(None))))
    if ctx.ccfg.fund.exclude_owners:
        owners = set(ctx.ccfg.owners) | set(await ctx.db.scalars(select(RoleGrant.user_id).where(
            RoleGrant.community_id == ctx.community.id, RoleGrant.role == Role.OWNER.value)))
        ids |= set(await ctx.db.scalars(select(Member.id).where(Member.community_id == ctx.community.id,
                                                                  Member.user_id.in_(owners))))
    ctx.memo["ranking.excluded"] = frozenset(ids)
    return ids


def counted_tips() -> ColumnElement[bool]:
    """The condition on tip entries that score: to a member directly, or to an answer that is not hidden and
    whose question is not (a hidden item's tips stay in the ledger; they just do not count). Needs the entries
    outer-joined to Answer and Question, as tips_query() does."""
    return (or_(LedgerEntry.answer_id.is_(None), Answer.hidden.is_(False))
            & or_(LedgerEntry.question_id.is_(None), Question.hidden.is_(False)))


def tips_query(*columns: Any) -> Select[Any]:
    return (select(*columns).select_from(LedgerEntry)
            .outerjoin(Answer, Answer.id == LedgerEntry.answer_id)
            .outerjoin(Question, Question.id == LedgerEntry.question_id))


async def lines(ctx: BaseCtx, start: datetime | None, end: datetime,
                member_ids: Iterable[int] | None = None) -> dict[int, Score]:
    """Each member's score lines for [start, end) (start None: since the beginning), as they stand now: hidden
    questions and answers do not count. `member_ids` limits it to those members."""
    def within(column: InstrumentedAttribute[datetime] | InstrumentedAttribute[datetime | None]
               ) -> ColumnElement[bool]:
        return (column >= start) & (column < end) if start is not None else column < end

    ids = None if member_ids is None else list(member_ids)

    def of(column: InstrumentedAttribute[int] | InstrumentedAttribute[int | None]) -> ColumnElement[bool]:
        return column.in_(ids) if ids is not None else true()

    found: dict[int, Score] = {}

    def score(member_id: int) -> Score:
        return found.setdefault(member_id, Score(member_id))

    for member_id, total in await ctx.db.execute(
            tips_query(LedgerEntry.member_id, func.sum(LedgerEntry.amount)).where(
                LedgerEntry.community_id == ctx.community.id, LedgerEntry.unit == POINTS, LedgerEntry.kind == "tip",
                within(LedgerEntry.created_at), counted_tips(), of(LedgerEntry.member_id))
            .group_by(LedgerEntry.member_id)):
        score(member_id).points = int(total)
    for member_id, count in await ctx.db.execute(
            select(Answer.author_id, func.count()).join(Question, Question.best_answer_id == Answer.id).where(
                Question.community_id == ctx.community.id, within(Question.best_marked_at),
                Question.hidden.is_(False), Answer.hidden.is_(False), of(Answer.author_id))
            .group_by(Answer.author_id)):
        score(member_id).best_answers = int(count)
    for member_id, count in await ctx.db.execute(
            select(Answer.author_id, func.count(func.distinct(Question.asker_id)))
            .join(Question, Question.id == Answer.question_id).where(
                Answer.community_id == ctx.community.id, within(Answer.answered_at), Answer.hidden.is_(False),
                Question.hidden.is_(False), Question.asker_id != Answer.author_id, of(Answer.author_id))
            .group_by(Answer.author_id)):
        score(member_id).helped = int(count)
    for member_id, count in await ctx.db.execute(
            select(DigestPick.author_id, func.count()).join(Answer, Answer.id == DigestPick.answer_id)
            .join(Question, Question.id == Answer.question_id).where(
                DigestPick.community_id == ctx.community.id, within(DigestPick.picked_at),
                Answer.hidden.is_(False), Question.hidden.is_(False), of(DigestPick.author_id))
            .group_by(DigestPick.author_id)):
        score(member_id).digest_answers = int(count)
    return found


async def scores(ctx: BaseCtx, start: datetime | None, end: datetime) -> list[Score]:
    """Everyone who scored in [start, end) (start None: since the beginning), best first; the all-time ranking
    uses all_time(), which does not recount past weeks.

    Ties on the total are broken by more best answers, then more members helped, then more points, then who
    joined the community first, so the order is stable; rewards treat equal totals as equal (see rewards.py).
    """
    return await _ranked(ctx, await lines(ctx, start, end))


async def _ranked(ctx: BaseCtx, found: dict[int, Score]) -> list[Score]:
    left_out = await excluded(ctx)
    w = ctx.ccfg.score
    ranked = [s for s in found.values() if s.member_id not in left_out and s.total(w) > 0]
    ranked.sort(key=lambda s: (-s.total(w), -s.best_answers, -s.helped, -s.points, s.member_id))
    return ranked


async def add_to_totals(ctx: BaseCtx, changes: list[Score], *, weeks: int) -> None:
    """Add score lines (a frozen week's, or corrections to frozen weeks) to the members' all-time totals."""
    if not changes:
        return
    await ctx.db.execute(insert_ignoring_conflicts(ctx.db, ScoreTotal), [
        dict(community_id=ctx.community.id, member_id=s.member_id, points=0, best_answers=0, helped=0,
             digest_answers=0, weeks=0) for s in changes])
    t = table(ScoreTotal)           # a core UPDATE, executed for many rows at once
    await ctx.db.execute(
        t.update().where(t.c.community_id == bindparam("c"), t.c.member_id == bindparam("m"))
        .values(points=t.c.points + bindparam("p"), best_answers=t.c.best_answers + bindparam("b"),
                helped=t.c.helped + bindparam("h"), digest_answers=t.c.digest_answers + bindparam("d"),
                weeks=t.c.weeks + weeks),
        [dict(c=ctx.community.id, m=s.member_id, p=s.points, b=s.best_answers, h=s.helped, d=s.digest_answers)
         for s in changes])


def week_end(ctx: BaseCtx, week: datetime) -> datetime:
    """The end of the week starting at `week` (the next week's start, whatever DST does in between)."""
    return ctx.week_start(week + timedelta(days=7, hours=12))


async def _moments(ctx: BaseCtx, item: Question | Answer) -> list[tuple[int, datetime]]:
    """(member, time) of every score line `item` can move: its answers' authors when answered, when chosen
    best and when picked for a digest, and the receivers of the tips they got."""
    if isinstance(item, Question):
        answers = list(await ctx.db.scalars(select(Answer).where(Answer.question_id == item.id)))
        question = item
    else:
        answers = [item]
        question = await ctx.db.get_one(Question, item.question_id)
    found = [(a.author_id, a.answered_at) for a in answers]
    best = [a for a in answers if a.id == question.best_answer_id]
    if best and question.best_marked_at is not None:
        found.append((best[0].author_id, question.best_marked_at))
    if answers:
        found += list((await ctx.db.execute(select(DigestPick.author_id, DigestPick.picked_at).where(
            DigestPick.answer_id.in_([a.id for a in answers])))).all())
        found += [(m, at) for m, at in await ctx.db.execute(select(LedgerEntry.member_id, LedgerEntry.created_at).where(
            LedgerEntry.answer_id.in_([a.id for a in answers]), LedgerEntry.unit == POINTS,
            LedgerEntry.kind == "tip")) if m is not None]
    return found


async def rescore(ctx: BaseCtx, item: Question | Answer, change: Callable[[], None]) -> list[WeeklyResult]:
    """Apply `change` to `item` (hiding or showing it) and correct the all-time totals of the weeks already paid,
    which were frozen with the item as it was. Those weeks' payouts stand: the rewards that the item counted
    towards are returned, so an owner can decide about them (/fund undo)."""
    await lock_community(ctx.db, ctx.community.id)       # not while a payout freezes a week
    # Weekly payouts run for every week in order, each moving the job's cursor in its own transaction: the weeks
    # that ended by the cursor are the ones paid (and frozen into the totals).
    paid_until = await ctx.db.scalar(select(JobCursor.last_fire).where(
        JobCursor.community_id == ctx.community.id, JobCursor.job == "pay_weekly_rewards"))
    by_week: dict[datetime, set[int]] = defaultdict(set)
    for member_id, at in await _moments(ctx, item):
        week = ctx.week_start(at)
        if paid_until is not None and week_end(ctx, week) <= paid_until:
            by_week[week].add(member_id)
    before = {week: await lines(ctx, week, week_end(ctx, week), ids) for week, ids in by_week.items()}
    change()
    await ctx.db.flush()
    corrections: dict[int, Score] = {}
    moved: list[tuple[datetime, int]] = []
    for week, ids in by_week.items():
        after = await lines(ctx, week, week_end(ctx, week), ids)
        for member_id in ids:
            delta = after.get(member_id, Score(member_id)).minus(before[week].get(member_id, Score(member_id)))
            if delta:
                moved.append((week, member_id))
                corrections[member_id] = corrections.get(member_id, Score(member_id)).plus(delta)
    left_out = await excluded(ctx)
    await add_to_totals(ctx, [s for m, s in corrections.items() if m not in left_out], weeks=0)
    if not moved:
        return []
    rewarded = await ctx.db.scalars(select(WeeklyResult).where(
        WeeklyResult.community_id == ctx.community.id, WeeklyResult.amount > 0, WeeklyResult.entry_id.is_not(None),
        WeeklyResult.week.in_({w for w, _ in moved}))
        .order_by(WeeklyResult.week, WeeklyResult.place, WeeklyResult.member_id))
    return [r for r in rewarded if (r.week, r.member_id) in set(moved)]


# A member's stored totals as plain rows, not ORM objects: the all-time ranking reads hundreds in a busy week.
_TOTALS = (ScoreTotal.member_id, ScoreTotal.points, ScoreTotal.best_answers, ScoreTotal.helped,
           ScoreTotal.digest_answers)


def _weighted(w: ScoreConfig) -> ColumnElement[int]:
    t = ScoreTotal
    return (t.points * w.point_received + t.best_answers * w.best_answer + t.helped * w.member_helped
            + t.digest_answers * w.digest_answer)


def _plus(stored: Any, live: Score | None, member_id: int) -> Score:
    """A member's stored totals (a row of _TOTALS, or None) plus this week's live score."""
    s = Score(member_id)
    for part in (stored, live):
        if part is not None:
            s.points += part.points
            s.best_answers += part.best_answers
            s.helped += part.helped
            s.digest_answers += part.digest_answers
    return s


async def all_time(ctx: BaseCtx, *, top: int = SHOWN) -> list[Score]:
    """The best `top` (or more) since the start: frozen weekly totals plus this week so far.

    Only candidates are read: the stored leaders (as many as could be overtaken by this week's scorers, plus the
    list's length) and this week's scorers; anyone else has less than every listed member.
    """
    live = {s.member_id: s for s in await scores(ctx, ctx.week_start(), ctx.now)}
    left_out = await excluded(ctx)
    t = ScoreTotal
    leaders = await ctx.db.execute(
        select(*_TOTALS).where(t.community_id == ctx.community.id, t.member_id.not_in(left_out))
        .order_by(_weighted(ctx.ccfg.score).desc(), t.member_id).limit(top + len(live) + 1))
    stored = {row.member_id: row for row in leaders}
    if live:
        stored.update({row.member_id: row for row in await ctx.db.execute(
            select(*_TOTALS).where(t.community_id == ctx.community.id, t.member_id.in_(list(live))))})
    found = {m: _plus(stored.get(m), live.get(m), m) for m in {*stored, *live}}
    return await _ranked(ctx, found)


async def all_time_of(ctx: BaseCtx, member_id: int) -> tuple[int, int | None]:
    """One member's all-time score and competition place (None without a score)."""
    w = ctx.ccfg.score
    live = {s.member_id: s for s in await scores(ctx, ctx.week_start(), ctx.now)}
    t = ScoreTotal
    rows = {row.member_id: row for row in await ctx.db.execute(select(*_TOTALS).where(
        t.community_id == ctx.community.id, t.member_id.in_([member_id, *live])))}
    mine = _plus(rows.get(member_id), live.get(member_id), member_id).total(w)
    if mine <= 0:
        return 0, None
    left_out = await excluded(ctx)
    ahead = sum(1 for m, s in live.items() if m != member_id and m not in left_out
                and _plus(rows.get(m), s, m).total(w) > mine)
    ahead += (await ctx.db.scalars(select(func.count()).where(
        t.community_id == ctx.community.id, _weighted(w) > mine,
        t.member_id.not_in([*left_out, *live, member_id])))).one()
    return mine, ahead + 1


def places(ranked: list[Score], w: ScoreConfig) -> list[int]:
    """Competition places: equal totals share a place (1, 2, 2, 4)."""
    out: list[int] = []
    for i, s in enumerate(ranked):
        out.append(out[-1] if i and s.total(w) == ranked[i - 1].total(w) else i + 1)
    return out


async def names(ctx: BaseCtx, member_ids: Iterable[int]) -> dict[int, Member]:
    ids = list(member_ids)
    if not ids:
        return {}
    return {m.id: m for m in await ctx.db.scalars(select(Member).where(Member.id.in_(ids)))}


def parts(ctx: BaseCtx, s: Score) -> str:
    picked = ctx.t("rank.parts_digest", n=s.digest_answers) if s.digest_answers else ""
    return ctx.t("rank.parts", points=s.points, best=s.best_answers, helped=s.helped) + picked


def formula(ctx: BaseCtx) -> str:
    w = ctx.ccfg.score
    return ctx.t("rank.formula", point=w.point_received, best=w.best_answer, helped=w.member_helped,
                 digest=w.digest_answer)


@router.command("rank", aliases=("排行", "排行榜"))
async def rank(ctx: Ctx) -> None:
    """This week's ranking; `/rank all` since the start; `/rank @name` explains one member's score."""
    targets = await ctx.mentioned_members()
    start = ctx.week_start()
    if targets:
        await _explain(ctx, targets[0], start)
        return
    word = ctx.args.strip().lower()
    if word in ("all", "全部", "总榜"):
        ranked, title = await all_time(ctx), ctx.t("rank.title_all", since=ctx.date(ctx.community.started_at))
    elif not word:
        ranked, title = await scores(ctx, start, ctx.now), ctx.t("rank.title_week", span=ctx.span(start))
    else:
        raise CommandError("rank.usage")
    if not ranked:
        raise CommandError("rank.empty")
    w = ctx.ccfg.score
    shown = await names(ctx, (s.member_id for s in ranked[:SHOWN]))
    lines = [title]
    for place, s in zip(places(ranked, w), ranked[:SHOWN]):
        lines.append(ctx.t("rank.line", place=place, name=shown[s.member_id].display_name, score=s.total(w),
                           parts=parts(ctx, s)))
    lines.append(formula(ctx))
    await ctx.reply_text("\n".join(lines))


def _breakdown(ctx: BaseCtx, s: Score) -> list[str]:
    """A score line by line: each count times its weight."""
    w = ctx.ccfg.score
    return [ctx.t("rank.explain_points", n=s.points, w=w.point_received, total=s.points * w.point_received),
            ctx.t("rank.explain_best", n=s.best_answers, w=w.best_answer, total=s.best_answers * w.best_answer),
            ctx.t("rank.explain_helped", n=s.helped, w=w.member_helped, total=s.helped * w.member_helped),
            ctx.t("rank.explain_digest", n=s.digest_answers, w=w.digest_answer,
                  total=s.digest_answers * w.digest_answer)]


async def _explain(ctx: Ctx, member: Member, start: datetime) -> None:
    """One member's score explained: this week's line by line; while this week has nothing for them yet (on a
    Monday, say), last week's instead, so the lines explain points they have."""
    if member.id in await excluded(ctx):
        raise CommandError("rank.excluded", name=member.display_name)
    w = ctx.ccfg.score

    def standing(ranked: list[Score]) -> tuple[Score, str]:
        """The member's lines in `ranked` and their place, as shown."""
        for place, s in zip(places(ranked, w), ranked):
            if s.member_id == member.id:
                return s, ctx.t("rank.place", place=place)
        return Score(member.id), ctx.t("rank.unplaced")

    mine, place = standing(await scores(ctx, start, ctx.now))
    last_start, last_end = ctx.last_completed_week(start)
    last, last_place = standing(await scores(ctx, last_start, last_end))
    if mine:
        lines = [ctx.t("rank.explain_title", name=member.display_name, score=mine.total(w), place=place),
                 *_breakdown(ctx, mine), ctx.t("rank.explain_last", score=last.total(w), place=last_place)]
    elif last:
        lines = [ctx.t("rank.explain_last_title", name=member.display_name, span=ctx.span(last_start),
                       score=last.total(w), place=last_place),
                 *_breakdown(ctx, last), ctx.t("rank.explain_week_empty", span=ctx.span(start))]
    else:
        lines = [ctx.t("rank.explain_nothing", name=member.display_name, span=ctx.span(start))]
    all_score, all_place = await all_time_of(ctx, member.id)
    lines.append(ctx.t("rank.explain_all", score=all_score,
                       place=ctx.t("rank.place", place=all_place) if all_place else ctx.t("rank.unplaced")))
    await ctx.reply_text("\n".join(lines))


@router.job("post_weekly_ranking", catch_up="latest")
async def post_weekly_ranking(job: JobCtx) -> None:
    """Last week's ranking and its rewards, posted to every group once (the latest week only after downtime)."""
    start, end = job.last_completed_week(job.period)
    w = job.ccfg.score
    # The week as the payout froze it (an answer hidden since does not move amounts to other places); computed
    # afresh only if the payout has not run.
    frozen = list(await job.db.scalars(select(WeeklyResult).where(
        WeeklyResult.community_id == job.community.id, WeeklyResult.week == start)
        .order_by(WeeklyResult.place, WeeklyResult.member_id)))
    left_out = await excluded(job)
    if frozen:
        rows = [(r.place, Score(r.member_id, r.points, r.best_answers, r.helped, r.digest_answers), r.score)
                for r in frozen if r.member_id not in left_out]
    else:
        ranked = await scores(job, start, end)
        rows = [(p, s, s.total(w)) for p, s in zip(places(ranked, w), ranked)]
    if not rows:
        return
    paid = {r.member_id: r for r in frozen}
    shown = await names(job, (s.member_id for _, s, _ in rows[:SHOWN]))
    # Posted late (the bot was down at its time), it says so: the week it is for is in the title either way.
    lines = [job.t("rank.post_title_late" if job.late else "rank.post_title", span=job.span(start))]
    mentions: list[str] = []
    for place, s, total in rows[:SHOWN]:
        member = shown[s.member_id]
        result = paid.get(s.member_id)
        reward = result.amount if result is not None else 0
        name = member.display_name
        if reward > 0 and member.deleted_at is None:     # winners are @-mentioned
            name = f"@{name}"
            mentions.append(member.user_id)
        line = job.t("rank.line", place=place, name=name, score=total, parts=parts(job, s))
        if reward > 0:
            line += job.t("rank.reward", amount=format_fen(reward))
        lines.append(line)
    total = sum(r.amount for r in paid.values())
    if total:
        lines.append(job.t("rank.rewards_rule", total=format_fen(total), n=job.ccfg.fund.top_n,
                           split="/".join(f"{p}%" for p in job.ccfg.fund.split)))
    lines.append(formula(job))
    text = "\n".join(lines)
    await job.post_to_groups(text, tuple(mentions))
