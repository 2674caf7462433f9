"""What a digest holds: sections of references (question, answer and message ids) and figures, compiled from the
stored chat, questions and answers; handlers.digest_render turns them into text whenever the digest is read.

Compiling only reads and counts: the words of each message were cut once when it was kept (bot.history). Topics
are runs of a group's messages with short gaps between them, or slightly longer gaps bridged by a shared word;
the same chat always gives the same topics.
"""
from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any, NamedTuple

from sqlalchemy import DateTime, and_, func, select, type_coerce, union

from bot.activity import active_members
from bot.context import BaseCtx
from bot.events import Capability
from bot.keywords import ranked, telling
from handlers import ranking
from handlers.digest_render import Participants, Shown, speakers
from models import Answer, ChatMessage, Group, Question, RoomMember
from models.db import plain_rows
from models.digests import Digest

SAME_TOPIC_GAP = timedelta(minutes=10)     # a message this soon after the last one continues its topic
LINKED_TOPIC_GAP = timedelta(minutes=60)   # ... and one this soon, if it shares a word with the topic
TOPIC_MIN_MESSAGES = 3
TOPIC_MIN_SPEAKERS = 2
TOPICS = 8                 # the largest topics are kept, shown in time order
TOPIC_WORDS = 3
TOPIC_SAMPLES = 3          # representative messages per topic
KEYWORDS = 10
LINKS = 20
THANKED = 8
QUESTIONS = 10             # the period's most answered questions are shown, the rest counted


# ---- compiling -------------------------------------------------------------------------------------------------

class _Message(NamedTuple):
    id: int
    sender_id: str
    sent_at: datetime
    kind: str
    terms: str


@dataclass
class _Topic:
    rows: list[Any] = field(default_factory=list)
    words: set[str] = field(default_factory=set)


def words_of(rows: Sequence[Any]) -> dict[int, set[str]]:
    """The telling words of each message (id, terms), by its id; each distinct word is judged once (chat repeats
    its words), the rest is set arithmetic."""
    seen: set[str] = set()
    good: set[str] = set()
    found = {}
    for row in rows:
        words = set(row.terms.split())
        if not words <= seen:
            new = words - seen
            seen |= new
            good.update(w for w in new if telling(w))
        found[row.id] = words & good
    return found


def keywords(words: Iterable[set[str]], n: int) -> list[str]:
    """The `n` words in the most of these messages' words (as bot.keywords counts them)."""
    return [w for w, _ in ranked(Counter(chain.from_iterable(words)).items(), n)]


def _runs(rows: Sequence[Any], words: dict[int, set[str]]) -> list[_Topic]:
    found: list[_Topic] = []
    current = _Topic()
    last = None
    for row in rows:
        mine, at = words[row.id], row.sent_at
        if last is not None:
            gap = at - last
            if gap <= SAME_TOPIC_GAP or (gap <= LINKED_TOPIC_GAP and not mine.isdisjoint(current.words)):
                current.rows.append(row)
                current.words |= mine
                last = at
                continue
        current = _Topic([row], set(mine))
        found.append(current)
        last = at
    return [t for t in found if len(t.rows) >= TOPIC_MIN_MESSAGES
            and len({r.sender_id for r in t.rows}) >= TOPIC_MIN_SPEAKERS]


def _aware(at: datetime) -> str:
    return (at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)).isoformat()


def topic_runs(rows: Sequence[Any]) -> list[list[Any]]:
    """The messages of each topic a digest could show, in time order (a topic's key is its first message's id).
    Messages only ever join the last topic, so the topics of a week so far stay as they are as the week goes on."""
    return [t.rows for t in _runs(rows, words_of(rows))]


def topics(rows: Sequence[Any], words: dict[int, set[str]],
           counted: dict[str, Participants] | None = None) -> list[dict[str, Any]]:
    """Topic sections from a group's text messages (id, sender_id, sent_at, terms) and their words, in time
    order; `counted` gets each topic's messages and speakers."""
    kept = _runs(rows, words)
    kept = sorted(sorted(kept, key=lambda t: -len(t.rows))[:TOPICS], key=lambda t: t.rows[0].sent_at)
    sections = []
    for topic in kept:
        top = keywords((words[r.id] for r in topic.rows), TOPIC_WORDS)
        # The messages that use most of the topic's words (the longer one on a tie, then the earlier).
        best = heapq.nsmallest(TOPIC_SAMPLES, enumerate(topic.rows), key=lambda item: (
            -len(words[item[1].id].intersection(top)), -len(item[1].terms), item[0]))
        key = f"topic:{topic.rows[0].id}"
        sections.append({"key": key, "kind": "topic", "words": top,
                         "first": _aware(topic.rows[0].sent_at), "last": _aware(topic.rows[-1].sent_at),
                         "messages": [row.id for _, row in sorted(best, key=lambda item: item[0])]})
        if counted is not None:
            counted[key] = speakers(Counter(r.sender_id for r in topic.rows))
    return sections


async def week_questions(ctx: BaseCtx, start: datetime, end: datetime) -> list[Question]:
    """The community's questions of [start, end): asked, answered or given a best answer in it; none hidden."""
    community = ctx.community.id
    # Three lookups that each use an index, rather than one OR that reads every question.
    ids = union(
        select(Question.id).where(Question.community_id == community, Question.asked_at >= start,
                                  Question.asked_at < end),
        select(Question.id).where(Question.community_id == community, Question.best_marked_at >= start,
                                  Question.best_marked_at < end),
        select(Answer.question_id).where(Answer.community_id == community, Answer.answered_at >= start,
                                         Answer.answered_at < end, Answer.hidden.is_(False)))
    return list(await ctx.db.scalars(select(Question).where(Question.id.in_(ids), Question.hidden.is_(False))
                                     .order_by(Question.number)))


def question_section(question: Question) -> dict[str, Any]:
    return {"key": f"q:{question.id}", "kind": "question", "question": question.id}


@dataclass(frozen=True)
class Period:
    """What every group's digest of one period shares, read once for them all: the community's questions, its
    contributors and its active members."""

    start: datetime
    end: datetime
    questions: list[Question]      # the most answered of the period's questions, by number
    more_questions: int            # the period's other questions
    asked_in: set[str | None]      # the groups the period's questions belong to
    thanked: list[list[int]]
    active: set[str]


async def period(ctx: BaseCtx, start: datetime, end: datetime) -> Period:
    found = await week_questions(ctx, start, end)
    answered: dict[int, int] = {}
    if len(found) > QUESTIONS:
        answered = dict((await ctx.db.execute(select(Answer.question_id, func.count()).where(
            Answer.question_id.in_([q.id for q in found]), Answer.answered_at >= start, Answer.answered_at < end,
            Answer.hidden.is_(False)).group_by(Answer.question_id))).all())
    top = sorted(found, key=lambda q: (-answered.get(q.id, 0), q.best_answer_id is None, q.number))[:QUESTIONS]
    return Period(start, end, sorted(top, key=lambda q: q.number), len(found) - len(top),
                  {q.room_id for q in found}, await _thanked(ctx, start, end),
                  await active_members(ctx.db, ctx.community.id, start, end, ctx.tz))


async def compile_sections(ctx: BaseCtx, group: Group, shared: Period,
                           shown: Shown | None = None) -> list[dict[str, Any]]:
    """The sections of a digest of `group` for the period; [] when there is nothing. `shown`: where the digests
    of the period are read next, which keeps the topics' speakers counted here."""
    start, end, room_id = shared.start, shared.end, group.room_id
    sections = [question_section(q) for q in shared.questions]
    if shared.more_questions:
        sections.append({"key": "more_questions", "kind": "more_questions", "count": shared.more_questions})
    # The times as the driver reads them (naive UTC on SQLite): only gaps between them are taken, and a topic's
    # first and last are made aware (_aware), rather than every message's. Plain tuples: each row is read often.
    rows = list(map(_Message._make, await plain_rows(ctx.db,
        select(ChatMessage.id, ChatMessage.sender_id, type_coerce(ChatMessage.sent_at, DateTime()),
               ChatMessage.kind, ChatMessage.terms)
        .where(ChatMessage.room_id == room_id, ChatMessage.community_id == ctx.community.id,
               ChatMessage.sent_at >= start, ChatMessage.sent_at < end)
        .order_by(ChatMessage.sent_at, ChatMessage.id))))
    if not sections and not rows:
        return []
    sees_all = ctx.can(Capability.SEES_ALL_MESSAGES)
    if not sees_all:
        sections.insert(0, {"key": "note", "kind": "note"})
    texts: list[Any] = []
    links: list[int] = []
    for r in rows:
        if r.kind == "text":
            texts.append(r)
        elif r.kind in ("link", "file") and len(links) < LINKS:
            links.append(r.id)
    words = words_of(texts)
    if sees_all:
        sections += topics(texts, words, None if shown is None else shown.counted)
    if links:
        sections.append({"key": "links", "kind": "links", "messages": links})
    top = keywords(words.values(), KEYWORDS)
    if top:
        sections.append({"key": "keywords", "kind": "keywords", "words": top})
    if shared.thanked:
        sections.append({"key": "thanks", "kind": "thanks", "people": shared.thanked})
    sections.append(await _numbers(ctx, group, shared, rows))
    return sections


async def _thanked(ctx: BaseCtx, start: datetime, end: datetime) -> list[list[int]]:
    """[member id, points received, best answers, answers] of the period's contributors, most first."""
    lines = await ranking.lines(ctx, start, end)
    answers = dict((await ctx.db.execute(
        select(Answer.author_id, func.count()).join(Question, Question.id == Answer.question_id).where(
            Answer.community_id == ctx.community.id, Answer.answered_at >= start, Answer.answered_at < end,
            Answer.hidden.is_(False), Question.hidden.is_(False)).group_by(Answer.author_id))).all())
    left_out = await ranking.excluded(ctx)
    w = ctx.ccfg.score
    none = ranking.Score(0)
    people = [[m, (s := lines.get(m, none)).points, s.best_answers, answers.get(m, 0)]
              for m in {*lines, *answers} if m not in left_out]
    people = [p for p in people if p[1] or p[2] or p[3]]
    people.sort(key=lambda p: (-(p[1] * w.point_received + p[2] * w.best_answer), -p[3], p[0]))
    return people[:THANKED]


async def _numbers(ctx: BaseCtx, group: Group, shared: Period, rows: Sequence[Any]) -> dict[str, Any]:
    size = await ctx.group_size(group)
    joined = and_(RoomMember.joined_at >= shared.start, RoomMember.joined_at < shared.end)
    roster = await plain_rows(ctx.db, select(RoomMember.user_id, RoomMember.present, joined).where(
        RoomMember.room_id == group.room_id))
    in_room = {user_id for user_id, present, _ in roster if present}
    active = shared.active
    return {"key": "numbers", "kind": "numbers", "posts": len(rows), "speakers": len({r.sender_id for r in rows}),
            "active": len(active & in_room) if in_room else len(active), "size": size,
            "newcomers": sum(1 for *_, new in roster if new)}


def carry_edits(digest: Digest, sections: list[dict[str, Any]]) -> None:
    """New sections for a draft, keeping the moderator's drops and rewrites of sections that are still there."""
    keys = {s["key"] for s in sections}
    digest.sections = sections
    digest.dropped = [k for k in digest.dropped if k in keys]
    digest.rewritten = {k: v for k, v in digest.rewritten.items() if k in keys}
