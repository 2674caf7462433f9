"""Ledger invariants under random tips, redeliveries and week starts, through the real app and the test database."""
import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.adapters.base import IncomingMessage
from bot.weeks import week_start
from handlers import questions
from handlers import tips as tipping
from models import LedgerAccount, LedgerEntry, Member
from tests.conftest import NAMES, Chat, make_config

ALLOWANCE = 100
GIVERS = ("u1", "u2", "u3")
ANSWERS = {"A1": "u3", "A2": "u1"}          # A9 does not exist
TARGETS = ("u2", "A1", "u3", "u_owner", "u1", "A2", "u4", "A9")     # u4 is not in the group
BAD_AMOUNTS = ("0", "-5", "1.5", "101", "99999999999999999999", "abc", "")


@dataclass(frozen=True)
class Tip:
    giver: str
    target: str
    amount: str
    private: bool


@dataclass(frozen=True)
class Replay:
    pick: int


@dataclass(frozen=True)
class NextWeek:
    extra_weeks: int
    hours: int


amounts = st.one_of(st.sampled_from(("30", "45", "60", "99", "100")), st.integers(1, ALLOWANCE).map(str),
                    st.sampled_from(BAD_AMOUNTS))
tips = st.builds(Tip, st.sampled_from(GIVERS), st.sampled_from(TARGETS), amounts, st.booleans())
kinds = {"tip": tips, "replay": st.builds(Replay, st.integers(0, 1000)),
         "week": st.builds(NextWeek, st.integers(0, 2), st.integers(0, 6 * 24))}
steps = st.lists(st.sampled_from(("tip",) * 6 + ("replay",) * 2 + ("week",)).flatmap(kinds.__getitem__),
                 min_size=6, max_size=16)


@pytest.fixture(scope="module")
def fresh_chats(databases):
    """Runs one example: a new bot on a new copy of the database each time.

    Only the routers that touch points: the other routers' jobs would make every week start several times slower.
    """
    runner = asyncio.Runner()

    def run(scenario):
        async def go(url):
            chat = Chat(make_config(), url, routers=(questions.router, tipping.router))
            await chat.start()
            try:
                await scenario(chat)
            finally:
                await chat.close()
        url = databases.new()
        try:
            runner.run(go(url))
        finally:
            databases.drop(url)

    yield run
    runner.close()


async def ledger(chat) -> tuple[list[LedgerAccount], list[LedgerEntry]]:
    async with chat.app.sessions() as db:
        return list(await db.scalars(select(LedgerAccount))), list(await db.scalars(select(LedgerEntry)))


def balances(accounts: list[LedgerAccount]) -> dict[str, int]:
    return {f"{a.unit}:{a.key}": a.balance for a in accounts}


async def check_invariants(chat) -> None:
    accounts, entries = await ledger(chat)
    # (a) every unit sums to zero
    per_unit: dict[str, int] = defaultdict(int)
    for a in accounts:
        per_unit[a.unit] += a.balance
    assert all(total == 0 for total in per_unit.values()), per_unit
    # (b) each balance is its credits minus its debits
    derived: dict[int, int] = defaultdict(int)
    for e in entries:
        assert e.amount > 0 and e.cause, e.key
        derived[e.credit_id] += e.amount
        derived[e.debit_id] -= e.amount
    assert {a.key: a.balance for a in accounts} == {a.key: derived[a.id] for a in accounts}
    # (c) member accounts never go negative
    assert [a.key for a in accounts if not a.may_go_negative and a.balance < 0] == []
    # (e) nobody gives more than the weekly allowance in a week
    by_id = {a.id: a for a in accounts}
    spent: dict[tuple[int, datetime], int] = defaultdict(int)
    for e in entries:
        if e.kind == "tip":
            wallet = by_id[e.debit_id]
            assert wallet.kind == "allowance" and wallet.member_id == e.actor_id
            spent[(e.actor_id, wallet.week)] += e.amount
    assert all(total <= ALLOWANCE for total in spent.values()), spent
    # ... and the allowances of past weeks have expired at the week start
    this_week = week_start(chat.clock.now(), chat.app.config.community_tz(chat.config.communities[0]), "mon 00:00")
    assert [a.key for a in accounts if a.kind == "allowance" and a.week < this_week and a.balance] == []


async def setup_answers(chat) -> None:
    await chat.say("/ask 冷启动怎么做\n第一批用户从哪来", "u2")
    await chat.say("/answer Q1 老用户转介绍", "u3")
    await chat.say("/answer Q1 免费小工具引流", "u1")


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps)
def test_ledger_invariants_hold_under_random_tips_redeliveries_and_week_starts(fresh_chats, plan):
    async def scenario(chat):
        await setup_answers(chat)
        left = {user: ALLOWANCE for user in GIVERS}        # what each giver may still give this week
        sent: list[dict] = []                               # every message so far, to deliver again
        for n, step in enumerate(plan):
            if isinstance(step, Tip):
                by_answer = step.target.startswith("A")
                private = step.private and by_answer
                shown = step.target if by_answer else f"@{NAMES[step.target]}"
                message = dict(text=f"/打赏 {shown} {step.amount}".rstrip(), user=step.giver, id=f"e{n}",
                               room=None if private else "r1", mentions=[] if by_answer else [step.target])
                replies = await chat.say(**message)
                sent.append(message)
                receiver = ANSWERS.get(step.target, step.target)
                amount = int(step.amount) if step.amount.isdigit() else 0
                ok = (step.target not in ("u4", "A9") and receiver != step.giver and 1 <= amount <= ALLOWANCE
                      and amount <= left[step.giver])
                if ok:
                    left[step.giver] -= amount
                    assert replies == [f"{NAMES[step.giver]} 打赏了 {'' if private else '@'}{NAMES[receiver]} "
                                       f"{amount} 分{f'（{step.target}）' if by_answer else ''}"
                                       f"（本周剩余 {left[step.giver]} 分）"]
                else:
                    assert len(replies) == 1 and "打赏了" not in replies[0] and "出错" not in replies[0], replies
            elif isinstance(step, Replay):
                if not sent:
                    continue
                before = await ledger(chat)
                replies = await chat.say(**sent[step.pick % len(sent)])
                after = await ledger(chat)
                # (d) a redelivered event changes nothing
                assert replies == []
                assert balances(after[0]) == balances(before[0])
                assert len(after[1]) == len(before[1])
            else:
                now = chat.clock.now()
                tz = chat.app.config.community_tz(chat.config.communities[0])
                target_time = (week_start(now, tz, "mon 00:00") + timedelta(weeks=1 + step.extra_weeks,
                                                                              hours=step.hours))
                await chat.tick(target_time)
                left = {user: ALLOWANCE for user in GIVERS}
            await check_invariants(chat)

    fresh_chats(scenario)


# ---- concurrent spends -------------------------------------------------------------------------------------

def tip_event(event_id: str, at: datetime) -> IncomingMessage:
    return IncomingMessage(event_id, "r1", "u1", "张三", "/打赏 @李四 60", at, mention_ids=("u2",))


async def tips_of(chat) -> list[LedgerEntry]:
    async with chat.app.sessions() as db:
        return list(await db.scalars(select(LedgerEntry).where(LedgerEntry.kind == "tip")))


async def test_two_concurrent_tips_cannot_overspend(chat):
    at = chat.clock.now()
    await asyncio.gather(chat.driver.handle(tip_event("c1", at)), chat.driver.handle(tip_event("c2", at)))
    rows = await chat.flush()
    assert sorted(row["text"] for row in rows) == [
        "@张三 本周额度只剩 40 分，不够打赏 60 分。额度在每周开始时重置。", "张三 打赏了 @李四 60 分（本周剩余 40 分）"]
    assert [e.amount for e in await tips_of(chat)] == [60]
    await check_invariants(chat)


async def test_two_bot_processes_on_one_database_cannot_overspend(db_url):
    """Two apps (no shared in-process lock) tipping from the same allowance at the same moment."""
    first, second = Chat(make_config(), db_url), Chat(make_config(), db_url)
    await first.start()
    await second.start(members=())
    try:
        at = first.clock.now()
        second.clock.set(at)
        await asyncio.gather(first.driver.handle(tip_event("p1", at)), second.driver.handle(tip_event("p2", at)))
        texts = sorted(row["text"] for row in await first.flush() + await second.flush())
        assert texts == ["@张三 本周额度只剩 40 分，不够打赏 60 分。额度在每周开始时重置。",
                         "张三 打赏了 @李四 60 分（本周剩余 40 分）"]
        assert [e.amount for e in await tips_of(first)] == [60]
        async with first.app.sessions() as db:
            giver = await db.scalar(select(Member).where(Member.user_id == "u1"))
            [wallet] = await db.scalars(select(LedgerAccount).where(LedgerAccount.member_id == giver.id,
                                                                    LedgerAccount.kind == "allowance"))
        assert wallet.balance == 40
        await check_invariants(first)
    finally:
        await first.close()
        await second.close()
