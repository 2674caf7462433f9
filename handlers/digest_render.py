"""How a digest reads: its sections rendered from the references they keep, whenever it is shown, so hidden
questions and answers and the chat and names of members who deleted their data never appear, whenever that
happened."""
from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select

from bot.cleaning import quoted
from bot.context import BaseCtx
from bot.text import clip
from handlers import ranking
from models import Answer, ChatMessage, DigestPick, LedgerEntry, Member, Question
from models.digests import Digest
from models.ledger import POINTS

SAMPLE_CHARS = 80
PEOPLE = 6                 # speakers named per topic, the most messages first
ANSWERS = 5                # answers shown per question, the best first
ANSWER_CHARS = 300
BACKGROUND_CHARS = 200
HEALTHY = "8–10%"
NAMED = (Member.id, Member.user_id, Member.display_name)      # what a digest shows of a member
SHARED = ("question", "more_questions", "thanks")          # sections that read the same in every group's digest


@dataclass
class _Refs:
    """Everything the sections refer to, read in one go and filtered for what may still be shown."""

    questions: dict[int, Question]
    answers: dict[int, list[Answer]]          # by question, the best answer first
    points: dict[int, int]                    # points received per answer
    picked: set[int]
    messages: dict[int, Any]                  # id, sender_id, text, url
    members: dict[int, Any]                   # id, user_id, display_name; by id, not deleted
    by_user: dict[str, Any]
    topics: dict[str, Participants]           # by section key


@dataclass(frozen=True)
class _Answered:
    """The questions a digest shows with their answers, points and picks: the same in every group's digest of a
    period, so read once for them all (Shown)."""

    questions: dict[int, Question]
    answers: dict[int, list[Answer]]
    points: dict[int, int]
    picked: set[int]
    members: dict[int, Any]


Participants = tuple[int, list[str]]       # a topic's messages still kept, its speakers (most messages first)


@dataclass
class Shown:
    """What the digests of one period read in turn share: the questions with their answers (the same in every
    group's digest), the members thanked, and the topics of drafts just compiled, counted from the messages they
    were compiled from (a draft read later counts them again)."""

    answered: dict[tuple[int, ...], _Answered] = field(default_factory=dict)
    members: dict[int, Any] = field(default_factory=dict)              # the thanked, by id (None: deleted)
    counted: dict[str, Participants] = field(default_factory=dict)      # by topic section key
    lines: dict[str, list[str]] = field(default_factory=dict)          # SHARED sections, as they read


def speakers(counts: Counter[str]) -> Participants:
    """Messages counted by sender: how many and who sent them, most messages first (then by user id)."""
    return sum(counts.values()), [u for u, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


async def _answered(ctx: BaseCtx, question_ids: list[int]) -> _Answered:
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
    picked = set(await ctx.db.scalars(select(DigestPick.answer_id).where(
        DigestPick.answer_id.in_(answer_ids)))) if answer_ids else set()
    member_ids = {q.asker_id for q in questions.values()} | {a.author_id for items in answers.values()
                                                            for a in items}
    members = {m.id: m for m in await ctx.db.execute(select(*NAMED).where(
        Member.id.in_(member_ids), Member.deleted_at.is_(None)))} if member_ids else {}
    return _Answered(questions, answers, {a: int(n) for a, n in points.items()}, picked, members)


async def _refs(ctx: BaseCtx, room_id: str, sections: list[dict[str, Any]], shown: Shown) -> _Refs:
    question_ids = tuple(s["question"] for s in sections if s["kind"] == "question")
    answered = shown.answered.get(question_ids)
    if answered is None:
        answered = shown.answered[question_ids] = await _answered(ctx, list(question_ids))
    message_ids = [m for s in sections for m in s.get("messages", ())]
    messages = {m.id: m for m in await ctx.db.execute(select(
        ChatMessage.id, ChatMessage.sender_id, ChatMessage.text, ChatMessage.url).where(
        ChatMessage.id.in_(message_ids)))} if message_ids else {}
    thanked = {p[0] for s in sections if s["kind"] == "thanks" for p in s["people"]}
    if unknown := thanked - answered.members.keys() - shown.members.keys():
        found = {m.id: m for m in await ctx.db.execute(select(*NAMED).where(Member.id.in_(unknown),
                                                                          Member.deleted_at.is_(None)))}
        shown.members.update({i: found.get(i) for i in unknown})
    members = dict(answered.members)
    members.update({i: m for i in thanked if (m := shown.members.get(i)) is not None})
    topics = await _participants(ctx, room_id, sections, shown.counted)
    users = {m.sender_id for m in messages.values()} | {u for _, people in topics.values() for u in people[:PEOPLE]}
    by_user = {m.user_id: m for m in members.values() if m.user_id in users}
    if users - set(by_user):
        by_user.update({m.user_id: m for m in await ctx.db.execute(select(*NAMED).where(
            Member.community_id == ctx.community.id, Member.user_id.in_(users - set(by_user)),
            Member.deleted_at.is_(None)))})
    return _Refs(answered.questions, answered.answers, answered.points, answered.picked, messages, members, by_user,
                 topics)


async def _participants(ctx: BaseCtx, room_id: str, sections: list[dict[str, Any]],
                        counted: dict[str, Participants]) -> dict[str, Participants]:
    """Each topic's messages still kept and its speakers, counted when it is read (`counted`: topics of a draft
    just compiled): one aggregate over the group's chat, each message counted in the topic whose time span holds
    it."""
    spans = [(s["key"], datetime.fromisoformat(s["first"]), datetime.fromisoformat(s["last"]))
             for s in sections if s["kind"] == "topic" and s["key"] not in counted]
    found = {s["key"]: counted[s["key"]] for s in sections if s["key"] in counted}
    if not spans:
        return found
    topic = case(*((ChatMessage.sent_at.between(first, last), key) for key, first, last in spans))
    rows = (await ctx.db.execute(
        select(topic, ChatMessage.sender_id, func.count()).where(
            ChatMessage.room_id == room_id, ChatMessage.kind == "text",
            ChatMessage.sent_at >= min(first for _, first, _ in spans),
            ChatMessage.sent_at <= max(last for _, _, last in spans))
        .group_by(topic, ChatMessage.sender_id))).all()
    senders: dict[str, Counter[str]] = {}
    for key, sender, n in rows:
        if key is not None:
            senders.setdefault(key, Counter())[sender] += n
    found.update({key: speakers(c) for key, c in senders.items()})
    return found


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
        names = [refs.by_user[u].display_name for u in users[:PEOPLE] if u in refs.by_user]
        samples = [refs.messages[m] for m in section["messages"] if m in refs.messages]
        if not samples:
            return []
        lines = [ctx.t("digest.topic", words=ctx.t("common.list_sep").join(section["words"]), count=count,
                       people=ctx.t("common.list_sep").join(names))]
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


async def render(ctx: BaseCtx, digest: Digest, shown: Shown | None = None, *,
                 only: Collection[int] | None = None) -> list[tuple[int, list[str]]]:
    """(section number, lines) of every section that is kept and still has something to show; a rewritten section
    reads as the moderator wrote it. `shown`: what other digests of the period read already; `only`: the section
    numbers wanted (a search shows one), only what they refer to is read."""
    kept = [(n, s) for n, s in enumerate(digest.sections, 1)
            if (only is None or n in only) and s["key"] not in digest.dropped]
    shown = Shown() if shown is None else shown
    refs = await _refs(ctx, digest.room_id, [s for _, s in kept if s["key"] not in digest.rewritten], shown)
    found = []
    for n, section in kept:
        key = section["key"]
        if key in digest.rewritten:
            lines = [ctx.t("digest.rewritten", text=quoted(digest.rewritten[key]))]
        elif section["kind"] in SHARED:         # by what it holds, the same in every group's digest
            same = str(section)
            lines = shown.lines.get(same) or shown.lines.setdefault(same, _section_lines(ctx, section, refs))
        else:
            lines = _section_lines(ctx, section, refs)
        if lines:
            found.append((n, lines))
    return found
