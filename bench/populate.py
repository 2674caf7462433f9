"""The community the budgets are measured on, written in bulk: a year of a learning community.

`groups` x `per_group` signed-up members (each in one group), questions with three answers each (a third with a
best answer), tips as consistent ledger rows (each tipper's weekly allowance granted, spent, and its rest expired
at the week's end; the balances match the entries), and the groups' kept chat with the words jieba cut it into —
`week_messages` of it in the last full week (the week a digest would summarise), the rest in the 13 weeks before;
and the search index of all of it.
"""
from __future__ import annotations

import bisect
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select

from bench.corpus import PREDICATES, TOPICS, message, messages
from bot.adapters.base import Member as PlatformMember
from bot.adapters.base import MembersEvent
from bot.app import App
from bot.config import Config, parse_config
from bot.search import index_stored
from bot.text import cut, items, words
from bot.weeks import week_stamp, week_start
from models import Answer, ChatMessage, LedgerAccount, LedgerEntry, Member, Profile, ProfileTerm, Question

COMMUNITY = "growth"
TZ = ZoneInfo("Asia/Shanghai")
START = datetime.fromisoformat("2025-11-24T09:00:00+08:00")     # a Monday; the community runs for `weeks`
ALLOWANCE = 100
SKILLS = ["增长", "文案", "数据分析", "用户运营", "SEO", "投放", "产品设计", "私域", "直播", "社群运营", "融资", "招聘",
          "前端", "后端", "算法", "品牌", "公关", "销售", "渠道", "供应链"]
INDUSTRIES = ["教育", "电商", "金融", "医疗", "游戏", "SaaS", "消费", "出海", "内容", "物流"]
CITIES = ["北京", "上海", "深圳", "杭州", "成都", "广州"]
TITLES = ["产品经理", "增长负责人", "运营总监", "创始人", "工程师", "设计师", "市场经理"]


@dataclass(frozen=True)
class Sizes:
    groups: int = 10
    per_group: int = 500
    messages: int = 100_000         # kept chat
    week_messages: int = 7_000      # of which in the last full week
    questions: int = 10_000         # three answers each
    tips: int = 100_000
    weeks: int = 52                 # the community's age
    commands: int = 300             # timed runs of each command
    ingest: int = 20_000            # messages fed for the sustained ingest rate
    load_seconds: float = 10.0      # commands timed while chat arrives at 1,000 msgs/s
    steady_messages: int = 5_000    # chat the memory probe takes before measuring

    @property
    def members(self) -> int:
        return self.groups * self.per_group


FULL = Sizes()
QUICK = Sizes(groups=2, per_group=20, messages=2_000, week_messages=700, questions=60, tips=600, weeks=3, commands=8,
              ingest=600, load_seconds=0.5, steady_messages=200)


def room_of(member_index: int, sizes: Sizes) -> str:
    return f"r{member_index // sizes.per_group}"


def config(sizes: Sizes) -> Config:
    return parse_config({"communities": [{"id": COMMUNITY, "name": "增长学习社", "owners": ["u_owner"],
                                          "groups": [{"room": f"r{g}"} for g in range(sizes.groups)]}],
                         "rate_limit": {"commands": 1000, "per_seconds": 1},
                         "pacing": {"min_interval_seconds": 0}}, env={})


def now_of(sizes: Sizes) -> datetime:
    return START + timedelta(weeks=sizes.weeks)


def digest_week(sizes: Sizes) -> tuple[datetime, datetime]:
    """[start, end) of the last full week before now: the week whose keywords are measured."""
    end = week_start(now_of(sizes), TZ, "mon 00:00")
    return end - timedelta(weeks=1), end


async def populate(app: App, sizes: Sizes) -> None:
    """Everything, in order: members, rosters, the year's questions and tips, its weekly jobs, the kept chat."""
    clock_now = now_of(sizes)
    await populate_members(app, sizes.members, START)
    for g in range(sizes.groups):
        await app.handle(MembersEvent(f"members-r{g}", f"r{g}", tuple(
            PlatformMember(f"m{i}", f"成员{i}") for i in range(g * sizes.per_group, (g + 1) * sizes.per_group)), START))
    await populate_questions(app, sizes)
    app.clock.set(clock_now)    # type: ignore[attr-defined]
    await app.run_due(clock_now)                 # a year of weekly jobs: resets, payouts, totals, the latest posts
    await populate_chat(app, sizes)
    await populate_index(app)


async def populate_members(app: App, n: int, now: datetime) -> None:
    rng = random.Random(7)
    term_cache: dict[str, list[str]] = {}
    async with app.sessions.begin() as db:
        for i in range(n):
            db.add(Member(community_id=COMMUNITY, user_id=f"m{i}", display_name=f"成员{i}", first_seen_at=now))
        await db.flush()
        members = (await db.execute(select(Member.id).where(Member.user_id.like("m%")))).all()
        for row in members:
            fields = {"city": rng.choice(CITIES), "title": rng.choice(TITLES), "industry": rng.choice(INDUSTRIES),
                      "skills": ", ".join(rng.sample(SKILLS, 3)), "needs": rng.choice(["求职", "找合伙人", "融资"]),
                      "interests": rng.choice(["跑步", "读书", "摄影"])}
            db.add(Profile(member_id=row.id, community_id=COMMUNITY, consented_at=now, updated_at=now, **fields))
            terms: dict[tuple[str, str], bool] = {}
            for field, value in fields.items():
                for item in items(value):
                    terms[(field, item)] = True
                    for tok in term_cache.setdefault(item, cut(item)):
                        terms.setdefault((field, tok), False)
            db.add_all(ProfileTerm(member_id=row.id, field=f, term=t, community_id=COMMUNITY, exact=e)
                       for (f, t), e in terms.items())


async def populate_questions(app: App, sizes: Sizes) -> None:
    """The year's questions, answers and tips, written in bulk."""
    rng = random.Random(11)
    span = timedelta(weeks=sizes.weeks).total_seconds()
    n_questions = sizes.questions

    def at() -> datetime:
        return START + timedelta(seconds=rng.uniform(0, span))

    async with app.sessions.begin() as db:
        ids = [row[0] for row in (await db.execute(select(Member.id).where(Member.user_id.like("m%")))).all()]
        asked = sorted(at() for _ in range(n_questions))
        authors = [rng.choice(ids) for _ in range(3 * n_questions)]
        # Titles and answers in the chat's words (their own generator: the tips stay the same), so a search of
        # the community's topics finds questions and answers as well as chat.
        said = random.Random(19)
        titles = [f"问题{q} {said.choice(TOPICS)}{said.choice(PREDICATES)}" for q in range(n_questions)]
        answers = [message(said) for _ in range(3 * n_questions)]
        await db.execute(insert(Question), [
            dict(community_id=COMMUNITY, number=q + 1, asker_id=rng.choice(ids),
                 title=titles[q],
                 body="背景" * 20, asked_at=asked[q], session_at=asked[q] + timedelta(days=3), status="open",
                 hidden=False, cause=f"seed-q{q}", best_answer_id=3 * q + 1 if q % 3 == 0 else None,
                 best_marked_at=asked[q] + timedelta(days=3) if q % 3 == 0 else None)
            for q in range(n_questions)])
        await db.execute(insert(Answer), [
            dict(community_id=COMMUNITY, number=a + 1, question_id=a // 3 + 1, author_id=authors[a],
                 body=answers[a], answered_at=asked[a // 3] + timedelta(hours=a % 3 + 1), hidden=False,
                 cause=f"seed-a{a}")
            for a in range(3 * n_questions)])
        await _populate_tips(db, sizes, rng, ids, asked, authors, at)


async def _populate_tips(db, sizes: Sizes, rng: random.Random, ids: list[int],  # type: ignore[no-untyped-def]
                         asked: list[datetime], authors: list[int], at) -> None:
    """Tips as the ledger keeps them: per tipper and week an allowance account, its grant on the first tip, the
    tips, and the unspent rest expired back to the issuer when the week ends."""
    now = now_of(sizes)
    next_account = (await db.scalar(select(func.max(LedgerAccount.id))) or 0) + 1
    next_entry = (await db.scalar(select(func.max(LedgerEntry.id))) or 0) + 1
    first_number = (await db.scalar(select(func.max(LedgerEntry.number)).where(
        LedgerEntry.community_id == COMMUNITY, LedgerEntry.unit == "points")) or 0) + 1
    accounts: list[dict] = []
    balance: dict[int, int] = defaultdict(int)        # account id -> balance

    def open_account(key: str, *, member_id: int | None, week: datetime | None = None,
                     may_go_negative: bool = False) -> int:
        nonlocal next_account
        accounts.append(dict(id=next_account, community_id=COMMUNITY, unit="points", key=key, kind=key.split(":")[0],
                             member_id=member_id, week=week, may_go_negative=may_go_negative, balance=0))
        next_account += 1
        return next_account - 1

    issuer = open_account("issuer", member_id=None, may_go_negative=True)
    received: dict[int, int] = {}
    allowances: dict[tuple[int, datetime], int] = {}     # (tipper, week) -> account id
    spent: dict[int, int] = defaultdict(int)              # allowance account -> points spent
    events: list[tuple[datetime, int, dict]] = []        # (created_at, order within the moment, entry)

    def entry(debit: int, credit: int, amount: int, **fields: object) -> dict:
        balance[debit] -= amount
        balance[credit] += amount
        return dict(community_id=COMMUNITY, unit="points", debit_id=debit, credit_id=credit, amount=amount, **fields)

    for k in range(sizes.tips):
        t = at()
        amount = rng.choice((1, 2, 3, 5, 5, 10))
        week = week_start(t, TZ, "mon 00:00")
        answer = None
        answered = bisect.bisect(asked, t - timedelta(hours=4))
        if answered and rng.random() < 0.4:
            answer = 3 * rng.randrange(answered) + rng.randrange(3)
        while True:
            giver = rng.choice(ids)
            receiver = authors[answer] if answer is not None else rng.choice(ids)
            wallet = allowances.get((giver, week))
            if giver != receiver and (wallet is None or spent[wallet] + amount <= ALLOWANCE):
                break
            answer = None
        stamp = week_stamp(week)
        if wallet is None:
            wallet = allowances[(giver, week)] = open_account(f"allowance:{giver}:{stamp}", member_id=giver,
                                                              week=week)
            events.append((t, 0, entry(issuer, wallet, ALLOWANCE, kind="grant", week=week, member_id=giver,
                                       cause=f"seed-t{k}", key=f"grant:{giver}:{stamp}", created_at=t)))
        if receiver not in received:
            received[receiver] = open_account(f"received:{receiver}", member_id=receiver)
        spent[wallet] += amount
        events.append((t, 1, entry(wallet, received[receiver], amount, kind="tip", week=week, member_id=receiver,
                                   actor_id=giver, answer_id=None if answer is None else answer + 1,
                                   question_id=None if answer is None else answer // 3 + 1, cause=f"seed-t{k}",
                                   key=f"tip:seed-t{k}", created_at=t)))
    for (giver, week), wallet in allowances.items():
        end = week + timedelta(weeks=1)
        if end <= now and ALLOWANCE > spent[wallet]:
            events.append((end, 2, entry(wallet, issuer, ALLOWANCE - spent[wallet], kind="expire", week=week,
                                         member_id=giver, cause="seed-expire", key=f"expire:{wallet}",
                                         created_at=end)))
    events.sort(key=lambda e: (e[0], e[1]))
    for account in accounts:
        account["balance"] = balance[account["id"]]
    await db.execute(insert(LedgerAccount), accounts)
    rows = []
    for n, (_, _, row) in enumerate(events):
        row.update(id=next_entry + n, number=first_number + n)
        rows.append({"week": None, "member_id": None, "actor_id": None, "answer_id": None, "question_id": None,
                     "reason": None, "reverses_id": None, **row})
    for i in range(0, len(rows), 20_000):
        await db.execute(insert(LedgerEntry), rows[i:i + 20_000])


async def populate_chat(app: App, sizes: Sizes) -> None:
    """The kept chat: text and the words jieba cut it into, as the recorder writes them."""
    rng = random.Random(13)
    texts = messages(sizes.messages, seed=5)
    terms: dict[str, str] = {}
    for text in texts:
        if text not in terms:
            terms[text] = words([text])[0]
    week, week_end = digest_week(sizes)
    earlier = timedelta(weeks=13).total_seconds()
    rows = []
    for i, text in enumerate(texts):
        if i < sizes.week_messages:
            sent = week + timedelta(seconds=rng.uniform(0, 7 * 86400 - 1))
        else:
            sent = week - timedelta(seconds=rng.uniform(1, earlier))
        sender = rng.randrange(sizes.members)
        rows.append(dict(community_id=COMMUNITY, room_id=room_of(sender, sizes), platform_id=f"seed-c{i}",
                         sender_id=f"m{sender}", sent_at=sent, kind="text", text=text, url=None, path=None,
                         quoted_id=None, terms=terms[text]))
    async with app.sessions.begin() as db:
        for i in range(0, len(rows), 20_000):
            await db.execute(insert(ChatMessage), rows[i:i + 20_000])


async def populate_index(app: App) -> None:
    """The search index of everything written in bulk, as the upgrade that adds the index builds it."""
    async with app.engine.begin() as conn:
        await conn.run_sync(index_stored)
