"""Command handling latency with a large community (budget: p99 < 10 ms in-process, platform excluded).

The community: 5,000 signed-up members, 10,000 questions with three answers each, 20,000 tips in the points
ledger. Run: python benchmarks/bench_commands.py [--members 5000] [--questions 10000] [--commands 2000]
"""
from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from bot.adapters.base import IncomingMessage, MembersEvent
from bot.adapters.base import Member as PlatformMember
from bot.adapters.recording import RecordingAdapter
from bot.app import App
from bot.clock import FakeClock
from bot.config import parse_config
from bot.text import cut, items, warm_up
from models import Answer, LedgerAccount, LedgerEntry, Member, Profile, ProfileTerm, Question

SKILLS = ["增长", "文案", "数据分析", "用户运营", "SEO", "投放", "产品设计", "私域", "直播", "社群运营", "融资", "招聘",
          "前端", "后端", "算法", "品牌", "公关", "销售", "渠道", "供应链"]
INDUSTRIES = ["教育", "电商", "金融", "医疗", "游戏", "SaaS", "消费", "出海", "内容", "物流"]
CITIES = ["北京", "上海", "深圳", "杭州", "成都", "广州"]
TITLES = ["产品经理", "增长负责人", "运营总监", "创始人", "工程师", "设计师", "市场经理"]


async def populate(app: App, n: int, now: datetime) -> None:
    rng = random.Random(7)
    term_cache: dict[str, list[str]] = {}
    async with app.sessions.begin() as db:
        for i in range(n):
            m = Member(community_id="growth", user_id=f"m{i}", display_name=f"成员{i}", first_seen_at=now)
            db.add(m)
        await db.flush()
        members = (await db.execute(Member.__table__.select().where(Member.user_id.like("m%")))).all()
        for row in members:
            fields = {"city": rng.choice(CITIES), "title": rng.choice(TITLES), "industry": rng.choice(INDUSTRIES),
                      "skills": ", ".join(rng.sample(SKILLS, 3)), "needs": rng.choice(["求职", "找合伙人", "融资"]),
                      "interests": rng.choice(["跑步", "读书", "摄影"])}
            db.add(Profile(member_id=row.id, community_id="growth", consented_at=now, updated_at=now, **fields))
            terms: dict[tuple[str, str], bool] = {}
            for field, value in fields.items():
                for item in items(value):
                    terms[(field, item)] = True
                    for tok in term_cache.setdefault(item, cut(item)):
                        terms.setdefault((field, tok), False)
            db.add_all(ProfileTerm(member_id=row.id, field=f, term=t, community_id="growth", exact=e)
                       for (f, t), e in terms.items())


async def populate_questions(app: App, n_questions: int, start: datetime, weeks: int) -> None:
    """A year of questions (three answers each, a third with a best answer) and tips, written in bulk."""
    rng = random.Random(11)
    span = timedelta(weeks=weeks).total_seconds()

    def at() -> datetime:
        return start + timedelta(seconds=rng.uniform(0, span))

    async with app.sessions.begin() as db:
        ids = [row[0] for row in (await db.execute(Member.__table__.select().with_only_columns(Member.id)
                                                   .where(Member.user_id.like("m%")))).all()]
        asked = sorted(at() for _ in range(n_questions))
        await db.execute(Question.__table__.insert(), [
            dict(community_id="growth", number=q + 1, asker_id=rng.choice(ids),
                 title=f"问题{q} 如何做{rng.choice(SKILLS)}",
                 body="背景" * 20, asked_at=asked[q], session_at=asked[q] + timedelta(days=3), status="open",
                 hidden=False, cause=f"seed-q{q}", best_answer_id=3 * q + 1 if q % 3 == 0 else None,
                 best_marked_at=asked[q] + timedelta(days=3) if q % 3 == 0 else None)
            for q in range(n_questions)])
        await db.execute(Answer.__table__.insert(), [
            dict(community_id="growth", number=a + 1, question_id=a // 3 + 1, author_id=rng.choice(ids),
                 body="回答" * 30, answered_at=asked[a // 3] + timedelta(hours=a % 3 + 1), hidden=False,
                 cause=f"seed-a{a}")
            for a in range(3 * n_questions)])
        await db.execute(LedgerAccount.__table__.insert(), [
            dict(community_id="growth", unit="points", key=f"received:{i}", kind="received", member_id=i,
                 may_go_negative=False, balance=0) for i in ids]
            + [dict(community_id="growth", unit="points", key="seed", kind="seed", member_id=None, may_go_negative=True,
                    balance=0)])
        accounts = dict((await db.execute(LedgerAccount.__table__.select().with_only_columns(
            LedgerAccount.member_id, LedgerAccount.id).where(LedgerAccount.kind == "received"))).all())
        seed = await db.scalar(LedgerAccount.__table__.select().with_only_columns(LedgerAccount.id)
                               .where(LedgerAccount.key == "seed"))
        await db.execute(LedgerEntry.__table__.insert(), [
            dict(community_id="growth", unit="points", number=k + 1, debit_id=seed, credit_id=accounts[m], amount=5,
                 kind="tip", member_id=m, cause=f"seed-t{k}", key=f"seed-t{k}", created_at=at())
            for k, m in enumerate(rng.choice(ids) for _ in range(2 * n_questions))])


async def main(members: int, n_questions: int, commands: int) -> None:
    warm_up()
    start = datetime.fromisoformat("2025-11-24T09:00:00+08:00")     # the community runs for a year
    clock = FakeClock(start)
    config = parse_config({"communities": [{"id": "growth", "name": "增长学习社", "owners": ["u_owner"],
                                            "groups": [{"room": "r1"}]}],
                           "rate_limit": {"commands": 1000, "per_seconds": 1},
                           "pacing": {"min_interval_seconds": 0}}, env={})
    with tempfile.TemporaryDirectory() as tmp:
        app = App(config, RecordingAdapter(lambda out: None), clock,
                  database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        await app.start()
        t0 = time.perf_counter()
        await populate(app, members, clock.now())
        await app.handle(MembersEvent("members", "r1", tuple(PlatformMember(f"m{i}", f"成员{i}")
                                                             for i in range(members)), clock.now()))
        await populate_questions(app, n_questions, clock.now(), 52)
        print(f"populated {members} members with profiles and a year of {n_questions} questions, "
              f"{3 * n_questions} answers and {2 * n_questions} tips in {time.perf_counter() - t0:.1f}s")
        clock.set(start + timedelta(weeks=52))
        t0 = time.perf_counter()
        await app.run_due(clock.now())
        print(f"caught up a year of weekly jobs (allowance resets, 52 reward payouts, the latest posts) "
              f"in {time.perf_counter() - t0:.1f}s")
        rng = random.Random(1)
        texts = ["/who 增长", "/找人 数据分析 教育", "/help", "/roles", "/profile", "/who 产品设计 上海", "/q Q",
                 "/questions", "/tip A", "/points", "/rank", "/rank all", "/fund", "/answer Q"]
        timings: dict[str, list[float]] = {t: [] for t in texts}
        for i in range(commands):
            clock.advance(seconds=1)
            kind = rng.choice(texts)
            text = kind
            if kind == "/q Q":
                text = f"/q Q{rng.randrange(1, n_questions + 1)}"
            elif kind == "/tip A":
                text = f"/tip A{rng.randrange(1, 3 * n_questions + 1)} 1"
            elif kind == "/answer Q":
                text = f"/answer Q{rng.randrange(1, n_questions + 1)} 一个新的回答"
            user = f"m{rng.randrange(members)}"
            event = IncomingMessage(f"b{i}", "r1", user, f"成员{user[1:]}", text, clock.now())
            t = time.perf_counter()
            await app.handle(event)
            timings[kind].append((time.perf_counter() - t) * 1000)
            await app.sender.send_due(clock.now())
        every = sorted(x for v in timings.values() for x in v)
        p = lambda xs, q: xs[min(len(xs) - 1, int(len(xs) * q))]  # noqa: E731
        for text, xs in timings.items():
            xs.sort()
            print(f"{text:24s} n={len(xs):5d} p50={statistics.median(xs):6.2f} ms  p99={p(xs, 0.99):6.2f} ms")
        print(f"{'all commands':24s} n={len(every):5d} p50={statistics.median(every):6.2f} ms  "
              f"p99={p(every, 0.99):6.2f} ms  (budget p99 < 10 ms)")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak resident memory {rss:.0f} MB (budget < 200 MB for 10 groups x 500 members)")
        await app.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--questions", type=int, default=10000)
    parser.add_argument("--commands", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main(args.members, args.questions, args.commands))
