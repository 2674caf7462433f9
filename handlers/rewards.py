"""Weekly rewards from the fund: the week's pool paid to the top scorers as payables, once per week.

The rule, stated to members in the ranking post and the README: the pool is split by fund.split over the top
fund.top_n places; members with equal totals share the amounts of the places they occupy equally; fen that do not
divide evenly, and the shares of places nobody reached, stay in the pool for later weeks.
"""
from __future__ import annotations

from bot.context import JobCtx
from bot.router import Router
from bot.weeks import week_cron, week_stamp
from handlers.fund import cash, weekly_pool
from handlers.ranking import Score, add_to_totals, places, scores
from models import WeeklyResult
from models.ledger import post

router = Router()


def split_pool(pool: int, split: list[int], ranked: list[Score], totals: list[int]) -> list[tuple[Score, int, int]]:
    """[(score, place, fen)] for the rewarded places; equal totals share their places' amounts."""
    shares = [pool * pct // 100 for pct in split]
    out: list[tuple[Score, int, int]] = []
    i = 0
    while i < len(ranked) and i < len(shares):
        j = i
        while j < len(ranked) and totals[j] == totals[i]:
            j += 1                                   # ranked[i:j] are tied
        amount = sum(shares[i:min(j, len(shares))]) // (j - i)
        out += [(s, i + 1, amount) for s in ranked[i:j]]
        i = j
    return out


@router.job("pay_weekly_rewards", catch_up="each", cron=week_cron)
async def pay_weekly_rewards(job: JobCtx) -> None:
    """At the week's start: score the week that ended, pay its pool to the top scorers as payables."""
    start, _ = job.last_completed_week(job.period)
    w = job.ccfg.score
    ranked = await scores(job, start, job.period)
    if not ranked:
        return
    pool = await cash(job, "pool")
    amount = weekly_pool(job, pool.balance, job.period)
    totals = [s.total(w) for s in ranked]
    stamp = week_stamp(start)
    rewarded = {s.member_id: (place, fen) for s, place, fen in
                split_pool(amount, job.ccfg.fund.split, ranked, totals)}
    # Every scorer's week is frozen here (not only the rewarded): the all-time ranking sums these rows.
    for score, place in zip(ranked, places(ranked, w)):
        fen = rewarded.get(score.member_id, (place, 0))[1]
        entry = None
        if fen > 0:
            entry, _ = await post(job.db, pool, await cash(job, f"payable:{score.member_id}", score.member_id), fen,
                                  kind="reward", key=f"reward:{stamp}:{score.member_id}", cause=job.cause,
                                  now=job.now, week=start, member_id=score.member_id)
        job.db.add(WeeklyResult(community_id=job.community.id, week=start, member_id=score.member_id,
                                place=place, score=score.total(w), points=score.points,
                                best_answers=score.best_answers, helped=score.helped,
                                digest_answers=score.digest_answers, amount=fen,
                                entry_id=entry.id if entry else None, cause=job.cause))
    await add_to_totals(job, ranked, weeks=1)
