"""What a digest holds and how it reads: compiled from the stored chat, questions and answers into sections of
references and figures, rendered from them whenever it is shown, so hidden questions and answers and the chat of
members who deleted their data never appear, whenever that happened.

Compiling only reads and counts: the words of each message were cut once when it was kept (bot.history). Topics
are runs of a group's messages with short gaps between them, or slightly longer gaps bridged by a shared word;
the same chat always gives the same topics.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select

from bot.activity import active_members
from bot.cleaning import quoted
from bot.context import BaseCtx
from bot.events import Capability
from bot.keywords import telling, top_terms
from bot.text import clip
from handlers import ranking
from models import Answer, ChatMessage, DigestPick, Group, LedgerEntry, Member, Question, RoomMember
from models.digests import Digest
from models.ledger import POINTS

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
SAMPLE_CHARS = 80
QUESTIONS = 10             # the period's most answered questions are shown, the rest counted
ANSWERS = 5                # answers shown per question, the best first
ANSWER_CHARS = 300
BACKGROUND_CHARS = 200
HEALTHY = "8–10%"


# ---- compiling -------------------------------------------------------------------------------------------------

@dataclass
class _Topic:
    rows: list[Any] = field(default_factory=list)
    words: set[str] = field(default_factory=set)

    @property
    def last(self) -> datetime:
        return self.rows[-1].sent_at


def _words(terms: str) -> set[str]:
    return {w for w in terms.split() if telling(w)}


def _runs(rows: Sequence[Any], words_of: dict[int, set[str]]) -> list[_Topic]:
    found: list[_Topic] = []
    current: _Topic | None = None
    for row in rows:
        words = words_of[row.id] = _words(row.terms)
        if current is not None:
            gap = row.sent_at - current.last
            if gap <= SAME_TOPIC_GAP or (gap <= LINKED_TOPIC_GAP and words & current.words):
                current.rows.append(row)
                current.words |= words
                continue
        current = _Topic([row], set(words))
        found.append(current)
    return [t for t in found if len(t.rows) >= TOPIC_MIN_MESSAGES
            and len({r.sender_id for r in t.rows}) >= TOPIC_MIN_SPEAKERS]


def topic_runs(rows: Sequence[Any]) -> list[list[Any]]:
    """The messages of each topic a digest could show, in time order (a topic's key is its first message's id).
    Messages only ever join the last topic, so the topics of a week so far stay as they are as the week goes on."""
    return [t.rows for t in _runs(rows, {})]


def topics(rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Topic sections from a group's text messages (id, sender_id, sent_at, terms), in time order."""
    words_of: dict[int, set[str]] = {}
    kept = _runs(rows, words_of)
    kept = sorted(sorted(kept, key=lambda t: -len(t.rows))[:TOPICS], key=lambda t: t.rows[0].sent_at)
    sections = []
    for topic in kept:
        top = [w for w, _ in top_terms((r.terms for r in topic.rows), TOPIC_WORDS)]
        # The messages that use most of the topic's words (the longer one on a tie, then the earlier).
        order = sorted(range(len(topic.rows)), key=lambda i: (
            -len(words_of[topic.rows[i].id] & set(top)), -len(topic.rows[i].terms), i))
        samples = [topic.rows[i].id for i in sorted(order[:TOPIC_SAMPLES])]
        sections.append({"key": f"topic:{topic.rows[0].id}", "kind": "topic", "words": top,
                         "first": topic.rows[0].sent_at.isoformat(), "last": topic.last.isoformat(),
                         "messages": samples})
    return sections


async def week_questions(ctx: BaseCtx, start: datetime, end: datetime) -> list[Question]:
    """The community's questions of [start, end): asked, answered or given a best answer in it; none hidden."""
    answered = select(Answer.question_id).where(Answer.community_id == ctx.community.id, Answer.answered_at >= start,
                                                Answer.answered_at < end, Answer.hidden.is_(False))
    return list(await ctx.db.scalars(select(Question).where(
        Question.community_id == ctx.community.id, Question.hidden.is_(False),
        ((Question.asked_at >= start) & (Question.asked_at < end))
        | ((Question.best_marked_at >= start) & (Question.best_marked_at < end))
        | Question.id.in_(answered)).order_by(Question.number)))


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


async def compile_sections(ctx: BaseCtx, room_id: str, shared: Period) -> list[dict[str, Any]]:
    """The sections of a digest of `room_id` for the period; [] when there is nothing."""
    start, end = shared.start, shared.end
    sections = [question_section(q) for q in shared.questions]
    if shared.more_questions:
        sections.append({"key": "more_questions", "kind": "more_questions", "count": shared.more_questions})
    rows = (await ctx.db.execute(
        select(ChatMessage.id, ChatMessage.sender_id, ChatMessage.sent_at, ChatMessage.kind, ChatMessage.terms)
        .where(ChatMessage.room_id == room_id, ChatMessage.community_id == ctx.community.id,
               ChatMessage.sent_at >= start, ChatMessage.sent_at < end)
        .order_by(ChatMessage.sent_at, ChatMessage.id))).all()
    if not sections and not rows:
        return []
    sees_all = ctx.can(Capability.SEES_ALL_MESSAGES)
    if not sees_all:
        sections.insert(0, {"key": "note", "kind": "note"})
    texts = [r for r in rows if r.kind == "text"]
    if sees_all:
        sections += topics(texts)
    links = [r.id for r in rows if r.kind in ("link", "file")][:LINKS]
    if links:
        sections.append({"key": "links", "kind": "links", "messages": links})
    words = top_terms((r.terms for r in texts), KEYWORDS)
    if words:
        sections.append({"key": "keywords", "kind": "keywords", "words": [w for w, _ in words]})
    if shared.thanked:
        sections.append({"key": "thanks", "kind": "thanks", "people": shared.thanked})
    sections.append(await _numbers(ctx, room_id, shared, rows))
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
    people = [[m, s.points if (s := lines.get(m)) else 0, s.best_answers if s else 0, answers.get(m, 0)]
              for m in {*lines, *answers} if m not in left_out]
    people = [p for p in people if p[1] or p[2] or p[3]]
    people.sort(key=lambda p: (-(p[1] * w.point_received + p[2] * w.best_answer), -p[3], p[0]))
    return people[:THANKED]


async def _numbers(ctx: BaseCtx, room_id: str, shared: Period, rows: Sequence[Any]) -> dict[str, Any]:
    group = await ctx.db.get(Group, room_id)
    size = await ctx.group_size(group) if group is not None else 0
    present = select(RoomMember.user_id).where(RoomMember.room_id == room_id, RoomMember.present.is_(True))
    in_room = set(await ctx.db.scalars(present))
    active = shared.active
    newcomers = await ctx.db.scalar(select(func.count()).select_from(RoomMember).where(
        RoomMember.room_id == room_id, RoomMember.joined_at >= shared.start, RoomMember.joined_at < shared.end))
    return {"key": "numbers", "kind": "numbers", "posts": len(rows), "speakers": len({r.sender_id for r in rows}),
            "active": len(active & in_room) if in_room else len(active), "size": size, "newcomers": newcomers or 0}


# ---- rendering -------------------------------------------------------------------------------------------------

@dataclass
class _Refs:
    """Everything the sections refer to, read in one go and filtered for what may still be shown."""

    questions: dict[int, Question]
    answers: dict[int, list[Answer]]          # by question, the best answer first
    points: dict[int, int]                    # points received per answer
    picked: set[int]
    messages: dict[int, ChatMessage]
    members: dict[int, Member]                # by id, not deleted
    by_user: dict[str, Member]
    topics: dict[str, tuple[int, list[str]]]  # by section key: messages still kept, speakers


async def _refs(ctx: BaseCtx, digest: Digest) -> _Refs:
    sections = digest.sections
    question_ids = [s["question"] for s in sections if s["kind"] == "question"]
    message_ids = [m for s in sections for m in s.get("messages", ())]
    questions = {q.id: q for q in await ctx.db.scalars(select(Question).where(
        Question.id.in_(question_ids), Question.hidden.is_(False)))} if question_ids else {}
    answers: dict[int, list[Answer]] = {}
    if questions:
        for a in await ctx.db.scalars(select(Answer).where(Answer.question_id.in_(list(questions)),
                                                           Answer.hidden.is_(False)).order_by(Answer.number)):
            answers.setdefault(a.question_id, []).append(a)
        for q in questions.values():
            answers.get(q.id, []).sort(key=lambda a: a.id != q.best_answer_id)
    answer_ids = [a.id for items in answers.values() for a in items]
    points = dict((await ctx.db.execute(
        ranking.tips_query(LedgerEntry.answer_id, func.sum(LedgerEntry.amount)).where(
            LedgerEntry.answer_id.in_(answer_ids), LedgerEntry.unit == POINTS, LedgerEntry.kind == "tip",
            ranking.counted_tips()).group_by(LedgerEntry.answer_id))).all()) if answer_ids else {}
    picked = set(await ctx.db.scalars(select(DigestPick.answer_id).where(DigestPick.answer_id.in_(answer_ids))))
    messages = {m.id: m for m in await ctx.db.scalars(select(ChatMessage).where(
        ChatMessage.id.in_(message_ids)))} if message_ids else {}
    member_ids = {q.asker_id for q in questions.values()} | {a.author_id for items in answers.values()
                                                            for a in items}
    member_ids |= {p[0] for s in sections if s["kind"] == "thanks" for p in s["people"]}
    users = {m.sender_id for m in messages.values()}
    members = list(await ctx.db.scalars(select(Member).where(
        Member.community_id == ctx.community.id, Member.deleted_at.is_(None),
        Member.id.in_(member_ids) | Member.user_id.in_(users))))
    return _Refs(questions, answers, {a: int(n) for a, n in points.items()}, picked, messages,
                 {m.id: m for m in members}, {m.user_id: m for m in members}, await _participants(ctx, digest))


async def _participants(ctx: BaseCtx, digest: Digest) -> dict[str, tuple[int, list[str]]]:
    """Each topic's messages still kept and its speakers (most messages first), counted when it is read: one
    aggregate over the group's chat, each message counted in the topic whose time span holds it."""
    spans = [(s["key"], datetime.fromisoformat(s["first"]), datetime.fromisoformat(s["last"]))
             for s in digest.sections if s["kind"] == "topic"]
    if not spans:
        return {}
    topic = case(*((ChatMessage.sent_at.between(first, last), key) for key, first, last in spans))
    rows = (await ctx.db.execute(
        select(topic, ChatMessage.sender_id, func.count()).where(
            ChatMessage.room_id == digest.room_id, ChatMessage.kind == "text",
            ChatMessage.sent_at >= min(first for _, first, _ in spans),
            ChatMessage.sent_at <= max(last for _, _, last in spans))
        .group_by(topic, ChatMessage.sender_id))).all()
    counts: dict[str, Counter[str]] = {}
    for key, sender, n in rows:
        if key is not None:
            counts.setdefault(key, Counter())[sender] += n
    return {key: (sum(c.values()), [u for u, _ in sorted(c.items(), key=lambda item: (-item[1], item[0]))])
            for key, c in counts.items()}


def _flat(text: str, limit: int) -> str:
    return clip(" ".join(text.split()), limit)


def _section_lines(ctx: BaseCtx, section: dict[str, Any], refs: _Refs) -> list[str]:
    """A section's lines (its heading first), or [] when nothing of it may be shown any more."""
    kind = section["kind"]
    if kind == "note":
        return [ctx.t("digest.mentions_only")]
    if kind == "question":
        question = refs.questions.get(section["question"])
        asker = refs.members.get(question.asker_id) if question is not None else None
        if question is None or asker is None:
            return []
        lines = [ctx.t("digest.question", ref=f"Q{question.number}", title=question.title, asker=asker.display_name)]
        if question.body:
            lines.append(ctx.t("digest.background", text=_flat(question.body, BACKGROUND_CHARS)))
        shown = [a for a in refs.answers.get(question.id, []) if a.author_id in refs.members]
        if not shown:
            lines.append(ctx.t("digest.no_answers"))
        elif question.best_answer_id not in {a.id for a in shown}:
            lines.append(ctx.t("digest.no_best"))
        for a in shown[:ANSWERS]:
            key = "digest.best_answer" if a.id == question.best_answer_id else "digest.answer"
            mark = ctx.t("digest.picked") if a.id in refs.picked else ""
            lines.append(ctx.t(key, ref=f"A{a.number}", author=refs.members[a.author_id].display_name,
                               points=refs.points.get(a.id, 0), mark=mark, body=quoted(clip(a.body, ANSWER_CHARS))))
        if len(shown) > ANSWERS:
            lines.append(ctx.t("digest.more_answers", count=len(shown) - ANSWERS, ref=f"Q{question.number}"))
        return lines
    if kind == "more_questions":
        return [ctx.t("digest.more_questions", count=section["count"])]
    if kind == "topic":
        count, users = refs.topics.get(section["key"], (0, []))
        names = [refs.by_user[u].display_name for u in users if u in refs.by_user]
        samples = [refs.messages[m] for m in section["messages"] if m in refs.messages]
        if not samples:
            return []
        lines = [ctx.t("digest.topic", words=ctx.t("common.list_sep").join(section["words"]), count=count,
                       people=ctx.t("common.list_sep").join(names[:6]))]
        for m in samples:
            who = refs.by_user.get(m.sender_id)
            if who is not None:
                lines.append(ctx.t("digest.sample", name=who.display_name, text=_flat(m.text, SAMPLE_CHARS)))
        return lines
    if kind == "links":
        lines = [ctx.t("digest.links")]
        for m in section["messages"]:
            row = refs.messages.get(m)
            who = refs.by_user.get(row.sender_id) if row is not None else None
            if row is not None and who is not None:
                lines.append(ctx.t("digest.link", title=_flat(row.text, 40) or row.url or "-",
                                   url=f" {row.url}" if row.url else "", name=who.display_name))
        return lines if len(lines) > 1 else []
    if kind == "keywords":
        return [ctx.t("digest.keywords", words=ctx.t("common.list_sep").join(section["words"]))]
    if kind == "thanks":
        people = [ctx.t("digest.thanked", name=refs.members[m].display_name, points=p, best=b, answers=n)
                  for m, p, b, n in section["people"] if m in refs.members]
        return [ctx.t("digest.thanks", people=ctx.t("common.list_sep").join(people))] if people else []
    if kind == "numbers":
        size = section["size"]
        share = ctx.t("digest.share", percent=round(100 * section["active"] / size), healthy=HEALTHY) if size else ""
        return [ctx.t("digest.numbers", messages=section["posts"], speakers=section["speakers"],
                      active=section["active"], share=share, newcomers=section["newcomers"])]
    return []


async def render(ctx: BaseCtx, digest: Digest, *, draft: bool) -> list[tuple[int, list[str]]]:
    """(section number, lines) of every section that is kept and still has something to show; a rewritten section
    reads as the moderator wrote it."""
    refs = await _refs(ctx, digest)
    shown = []
    for n, section in enumerate(digest.sections, 1):
        key = section["key"]
        if key in digest.dropped:
            continue
        if key in digest.rewritten:
            lines = [ctx.t("digest.rewritten", text=quoted(digest.rewritten[key]))]
        else:
            lines = _section_lines(ctx, section, refs)
        if lines:
            shown.append((n, lines))
    return shown


def section_keys(digest: Digest) -> list[str]:
    return [s["key"] for s in digest.sections]


def carry_edits(digest: Digest, sections: list[dict[str, Any]]) -> None:
    """New sections for a draft, keeping the moderator's drops and rewrites of sections that are still there."""
    keys = {s["key"] for s in sections}
    digest.sections = sections
    digest.dropped = [k for k in digest.dropped if k in keys]
    digest.rewritten = {k: v for k, v in digest.rewritten.items() if k in keys}
