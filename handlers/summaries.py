"""LLM summaries in digests, off unless an owner switches a group on (/周报 AI 开): a one-to-three-sentence
summary under each discussion topic and an opening paragraph for the week.

They are made as the week goes, never while a digest is drafted or published: the summarise_chat job plans its
requests in its own transaction (reading the chat, replacing names by placeholders, masking contacts), sends them
after that commits and stores each answer in a short transaction of its own. A topic's messages go out in fixed
batches, each once: batch n is sent with the summary of batches 0..n-1, and its answer is that topic's summary so
far. A digest shows what is stored by then; whatever is missing (endpoint down or slow, junk answers, the weekly
token budget spent, not made yet) reads as the extractive digest with a note.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import LlmConfig
from bot.context import BaseCtx, Ctx, JobCtx
from bot.errors import CommandError
from bot.events import Capability
from bot.llm import ChatModel, LlmError, parse
from bot.masking import PLACEHOLDER, Pseudonyms, restore
from bot.router import Router
from handlers.digest_content import LINKED_TOPIC_GAP, TOPICS, topic_runs, week_questions
from models import ChatMessage, Digest, Group, Member, Question
from models.summaries import DONE, FAILED, DigestOpening, LlmUsage, SummarySetting, TopicSummary

log = logging.getLogger("qunbot.summaries")
router = Router()

ON, OFF = ("开", "开启", "打开", "on"), ("关", "关闭", "off")
ATTEMPTS = 3                    # a batch that failed this often is left to the excerpts
OPENING_QUESTIONS = 10
LANGUAGES = {"zh_CN": "Simplified Chinese", "en": "English"}
TOPIC_PROMPT = (
    "You summarise one discussion from the group chat of a learning community, for its weekly digest. People appear "
    "as placeholders such as [P1]: keep each one exactly as written, never guess a name. [PHONE], [EMAIL] and "
    "[WECHAT] are masked details: leave them out. Answer with JSON only, {{\"summary\": \"...\"}}: one to three "
    "sentences, at most {chars} characters, in {language}, saying what was discussed and what came of it.")
OPENING_PROMPT = (
    "You write the opening paragraph of a learning community's weekly digest from the week's questions and the "
    "summaries of its discussions. People appear as placeholders such as [P1]: keep each one exactly as written, "
    "never guess a name. Answer with JSON only, {{\"opening\": \"...\"}}: one short paragraph, at most {chars} "
    "characters, in {language}.")


# ---- switching it on and off -------------------------------------------------------------------------------------

async def switch(ctx: Ctx) -> None:
    """/周报 AI 开|关 in a group (an owner): LLM summaries for the group's digests, on or off; without a word, the
    state and the week's tokens."""
    if ctx.group is None:
        raise CommandError("summary.in_group")
    word = ctx.args.strip().lower()
    room = ctx.group.room_id
    setting = await ctx.db.get(SummarySetting, room)
    on = setting is not None and setting.enabled
    llm = ctx.llm
    if not word:
        used = await tokens_used(ctx.db, ctx.community.id, ctx.week_start())
        budget = llm.config.weekly_token_budget if llm is not None else 0
        await ctx.respond("summary.status_on" if on else "summary.status_off", used=used, budget=budget)
        return
    if word not in ON + OFF:
        raise CommandError("summary.usage")
    if word in OFF:
        if not on:
            raise CommandError("summary.already_off")
        assert setting is not None
        setting.enabled, setting.changed_by, setting.changed_at = False, ctx.sender_id, ctx.now
        await ctx.respond("summary.off")
        return
    if llm is None or not llm.ready:
        raise CommandError("summary.not_configured")
    if on:
        raise CommandError("summary.already_on")
    if setting is None:
        ctx.db.add(SummarySetting(room_id=room, community_id=ctx.community.id, enabled=True,
                                  changed_by=ctx.sender_id, changed_at=ctx.now))
    else:
        setting.enabled, setting.changed_by, setting.changed_at = True, ctx.sender_id, ctx.now
    key = "summary.on_notice" if ctx.can(Capability.SEES_ALL_MESSAGES) else "summary.on_notice_mentions_only"
    # Said in the group: the answer is the group's notice (through the platform's reply channel where it has one).
    await ctx.reply_text(ctx.t(key, host=_host(llm.config.base_url), model=llm.config.model))


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


async def tokens_used(db: AsyncSession, community_id: str, week_start: datetime) -> int:
    """Tokens the endpoint reported for the community's week."""
    used = await db.scalar(select(func.sum(LlmUsage.tokens)).where(LlmUsage.community_id == community_id,
                                                                   LlmUsage.week_start == week_start))
    return int(used or 0)


# ---- planning, in the job's transaction ---------------------------------------------------------------------------

@dataclass
class _Batch:
    key: str
    batch: int
    first_id: int
    last_id: int
    lines: str                        # the messages as they leave the machine
    people: dict[str, str]            # the topic's placeholders once this batch is redacted


@dataclass
class _Plan:
    """What one group's run will send: the pending batches of each topic (in order), the topics as they stand and
    the opening's questions, all redacted already."""

    room_id: str
    topics: list[list[_Batch]]
    previous: dict[str, tuple[str, dict[str, str]]]    # topic key -> its summary so far, placeholders
    topic_keys: list[str]                              # the largest topics, in time order, for the opening
    questions: list[str]
    question_ids: list[int]
    opening: Pseudonyms


async def _names(ctx: BaseCtx) -> dict[str, str]:
    """display name -> user id of the community's members who have not deleted their data."""
    rows = await ctx.db.execute(select(Member.display_name, Member.user_id).where(
        Member.community_id == ctx.community.id, Member.deleted_at.is_(None)))
    return {name: user for name, user in rows.all()}


async def _plan(ctx: JobCtx, config: LlmConfig, room: str, start: datetime, names: dict[str, str]) -> _Plan:
    runs: list[list[Any]] = []
    if ctx.can(Capability.SEES_ALL_MESSAGES):
        runs = topic_runs((await ctx.db.execute(
            select(ChatMessage.id, ChatMessage.sender_id, ChatMessage.sent_at, ChatMessage.terms).where(
                ChatMessage.room_id == room, ChatMessage.community_id == ctx.community.id,
                ChatMessage.kind == "text", ChatMessage.sent_at >= start, ChatMessage.sent_at < ctx.now)
            .order_by(ChatMessage.sent_at, ChatMessage.id))).all())
    keys = [f"topic:{run[0].id}" for run in runs]
    stored = {(s.topic_key, s.batch): s for s in await ctx.db.scalars(select(TopicSummary).where(
        TopicSummary.room_id == room, TopicSummary.topic_key.in_(keys)))} if keys else {}
    size = config.batch_messages
    wanted: list[tuple[str, int, list[Any]]] = []
    previous: dict[str, tuple[str, dict[str, str]]] = {}
    for key, run in zip(keys, runs):
        closed = ctx.now - run[-1].sent_at > LINKED_TOPIC_GAP        # no message can join it any more
        batches = len(run) // size + (1 if closed and len(run) % size else 0)
        for n in range(batches):
            row = stored.get((key, n))
            if row is not None and row.status == DONE:
                previous[key] = (row.text, row.people)
                continue
            if row is None or row.attempts < ATTEMPTS:
                wanted.append((key, n, run[n * size:(n + 1) * size]))
            break                   # a batch carries the ones before it forward: one at a time, in order
        # Later batches of a topic follow the first pending one in the same run.
        if wanted and wanted[-1][0] == key:
            wanted += [(key, n, run[n * size:(n + 1) * size]) for n in range(wanted[-1][1] + 1, batches)]
    ids = [r.id for _, _, rows in wanted for r in rows]
    texts = dict((await ctx.db.execute(select(ChatMessage.id, ChatMessage.text).where(
        ChatMessage.id.in_(ids)))).all()) if ids else {}
    topics: dict[str, list[_Batch]] = {}
    masks: dict[str, Pseudonyms] = {}
    for key, n, rows in wanted:
        mask = masks.setdefault(key, Pseudonyms(names, previous.get(key, ("", {}))[1]))
        lines = "\n".join(f"{mask.of(r.sender_id)}: {mask.redact(' '.join(texts.get(r.id, '').split()))}"
                          for r in rows)
        topics.setdefault(key, []).append(_Batch(key, n, rows[0].id, rows[-1].id, lines, dict(mask.people)))
    largest = sorted(sorted(range(len(runs)), key=lambda i: -len(runs[i]))[:TOPICS])
    questions = (await week_questions(ctx, start, ctx.now))[:OPENING_QUESTIONS]
    opening = Pseudonyms(names)
    return _Plan(room, list(topics.values()), previous, [keys[i] for i in largest],
                 [opening.redact(" ".join(q.title.split())) for q in questions], [q.id for q in questions], opening)


@router.job("summarise_chat", catch_up="latest", wanted=lambda config: config.llm is not None)
async def summarise_chat(job: JobCtx) -> None:
    """Summarise the new batches of chat of each group an owner switched on, and write its week's opening again
    when its topics or questions changed; the requests go out once this run has committed."""
    llm = job.llm
    if llm is None or not llm.ready:
        return
    key = f"summarise_chat:{job.community.id}"
    if job.background.running(key):
        log.info("%s: the last run is still at work; this one leaves it be", key)
        return
    rooms = list(await job.db.scalars(select(SummarySetting.room_id).join(
        Group, Group.room_id == SummarySetting.room_id).where(
        SummarySetting.community_id == job.community.id, SummarySetting.enabled.is_(True), Group.enabled.is_(True))
        .order_by(SummarySetting.room_id)))
    if not rooms:
        return
    start = job.week_start()
    names = await _names(job)
    plans = [await _plan(job, llm.config, room, start, names) for room in rooms]
    worker = _Worker(job.sessions, llm, job.community.id, start, job.now, LANGUAGES[job.locale],
                     await tokens_used(job.db, job.community.id, start))
    # The requests may take minutes: they go out in the background once this run has committed, not in the
    # scheduler's round (other jobs and the outbox go on meanwhile).
    job.after_commit.append(lambda: job.background.start(key, lambda: worker.run(plans)))


# ---- sending, after the job's transaction ------------------------------------------------------------------------

@dataclass
class _Worker:
    sessions: async_sessionmaker[AsyncSession]
    llm: ChatModel
    community_id: str
    week_start: datetime
    now: datetime
    language: str
    used: int
    requests: int = 0
    down: bool = field(default=False)         # the endpoint failed: nothing more this run

    @property
    def config(self) -> LlmConfig:
        return self.llm.config

    def _can_ask(self) -> bool:
        return not self.down and self.used < self.config.weekly_token_budget \
            and self.requests < self.config.requests_per_run

    async def _ask(self, system: str, user: str, field_name: str, limit: int, sentences: int | None,
                   mask: Pseudonyms) -> tuple[str | None, int]:
        """The checked answer (None when there is none) and the tokens it cost."""
        self.requests += 1
        try:
            answer = await self.llm.complete(system, user)
        except LlmError as exc:
            self.down = not exc.reason.startswith("junk")      # down or slow: nothing more this run
            log.warning("LLM %s for %s failed (%s); the digest shows excerpts", field_name, self.community_id,
                        exc.reason)
            return None, exc.tokens
        try:
            text = parse(answer.text, field_name, limit=limit, max_sentences=sentences)
            if mask.unknown(text):
                raise LlmError("junk: placeholders that stand for no one")
        except LlmError as exc:
            log.warning("LLM %s for %s answered junk (%s); the digest shows excerpts", field_name,
                        self.community_id, exc.reason)
            return None, answer.tokens
        return text, answer.tokens

    async def run(self, plans: Sequence[_Plan]) -> None:
        for plan in plans:
            for batches in plan.topics:
                await self._topic(plan, batches)
            await self._opening(plan)

    async def _topic(self, plan: _Plan, batches: list[_Batch]) -> None:
        summary = plan.previous.get(batches[0].key, ("", {}))[0]
        system = TOPIC_PROMPT.format(chars=self.config.summary_chars, language=self.language)
        for b in batches:
            if not self._can_ask():
                return
            before = f"Summary so far (update it with the new messages):\n{summary}\n\n" if summary else ""
            text, tokens = await self._ask(system, f"{before}Messages:\n{b.lines}", "summary",
                                           self.config.summary_chars, 3, Pseudonyms({}, b.people))
            await self._store_topic(plan.room_id, b, text, tokens)
            if text is None:
                return
            summary = text

    async def _store_topic(self, room: str, b: _Batch, text: str | None, tokens: int) -> None:
        async with self.sessions.begin() as db:
            self._spent(db, tokens, "topic")
            row = await db.scalar(select(TopicSummary).where(TopicSummary.room_id == room,
                                                             TopicSummary.topic_key == b.key,
                                                             TopicSummary.batch == b.batch))
            if row is None:
                row = TopicSummary(community_id=self.community_id, room_id=room, topic_key=b.key, batch=b.batch,
                                   attempts=0)
                db.add(row)
            row.first_message_id, row.last_message_id, row.made_at = b.first_id, b.last_id, self.now
            row.attempts += 1
            row.status, row.text, row.people = (DONE, text, b.people) if text is not None else (FAILED, "", {})

    def _spent(self, db: AsyncSession, tokens: int, purpose: str) -> None:
        if tokens:
            self.used += tokens
            db.add(LlmUsage(community_id=self.community_id, week_start=self.week_start, tokens=tokens,
                            purpose=purpose, at=self.now))

    async def _opening(self, plan: _Plan) -> None:
        mask = plan.opening
        async with self.sessions() as db:
            rows = list(await db.scalars(select(TopicSummary).where(
                TopicSummary.room_id == plan.room_id, TopicSummary.topic_key.in_(plan.topic_keys),
                TopicSummary.status == DONE).order_by(TopicSummary.batch)))
        latest = {row.topic_key: row for row in rows}
        summaries = [_remap(latest[k].text, latest[k].people, mask) for k in plan.topic_keys if k in latest]
        if not summaries and not plan.questions:
            return
        user = "Questions:\n" + "\n".join(f"- {q}" for q in plan.questions) if plan.questions else ""
        if summaries:
            user += ("\n\n" if user else "") + "Discussions:\n" + "\n".join(f"- {s}" for s in summaries)
        digest = hashlib.sha256(user.encode()).hexdigest()
        async with self.sessions() as db:
            made = await db.scalar(select(DigestOpening.id).where(
                DigestOpening.room_id == plan.room_id, DigestOpening.week_start == self.week_start,
                DigestOpening.input_hash == digest))
        if made is not None or not self._can_ask():
            return
        system = OPENING_PROMPT.format(chars=self.config.opening_chars, language=self.language)
        text, tokens = await self._ask(system, user, "opening", self.config.opening_chars, None, mask)
        try:
            async with self.sessions.begin() as db:
                self._spent(db, tokens, "opening")
                db.add(DigestOpening(community_id=self.community_id, room_id=plan.room_id, week_start=self.week_start,
                                     input_hash=digest, status=DONE if text is not None else FAILED,
                                     text=text or "", people=dict(mask.people) if text else {},
                                     question_ids=plan.question_ids, made_at=self.now))
        except IntegrityError:        # another process wrote the same opening meanwhile
            pass


def _remap(text: str, people: dict[str, str], mask: Pseudonyms) -> str:
    """A topic's summary with its placeholders renumbered to the opening's."""
    return PLACEHOLDER.sub(lambda m: mask.of(people[m.group(0)]) if m.group(0) in people else m.group(0), text)


# ---- reading, when a digest is shown ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Extras:
    """What a digest shows of its LLM summaries: lines above its sections, and a line under each topic."""

    opening: list[str]
    topics: dict[str, str]

    def under(self, key: str) -> list[str]:
        return [self.topics[key]] if key in self.topics else []


NOTHING = Extras([], {})


async def extras(ctx: BaseCtx, digest: Digest) -> Extras:
    """The stored summaries of a digest's topics and week, as they stood when it was published (a draft: now),
    names put back; nothing for a group that has them off. A summary that names someone who deleted their data, or
    an opening about a question hidden since, is left out."""
    if ctx.llm is None or digest.kind == "question":
        return NOTHING
    setting = await ctx.db.get(SummarySetting, digest.room_id)
    if setting is None or not setting.enabled:
        return NOTHING
    cutoff = digest.published_at or ctx.now
    keys = [s["key"] for s in digest.sections if s["kind"] == "topic" and s["key"] not in digest.dropped
            and s["key"] not in digest.rewritten]
    latest: dict[str, TopicSummary] = {}
    if keys:
        for row in await ctx.db.scalars(select(TopicSummary).where(
                TopicSummary.room_id == digest.room_id, TopicSummary.topic_key.in_(keys),
                TopicSummary.status == DONE, TopicSummary.made_at <= cutoff).order_by(TopicSummary.batch)):
            latest[row.topic_key] = row
    week = digest.kind == "week" and any(s["kind"] in ("topic", "question") for s in digest.sections)
    opening = await ctx.db.scalar(select(DigestOpening).where(
        DigestOpening.room_id == digest.room_id, DigestOpening.week_start == digest.start,
        DigestOpening.status == DONE, DigestOpening.made_at <= cutoff)
        .order_by(DigestOpening.made_at.desc(), DigestOpening.id.desc()).limit(1)) if week else None
    if opening is not None and opening.question_ids and await ctx.db.scalar(select(Question.id).where(
            Question.id.in_(opening.question_ids), Question.hidden.is_(True)).limit(1)) is not None:
        opening = None
    users = {u for row in latest.values() for u in row.people.values()}
    users |= set(opening.people.values()) if opening is not None else set()
    names = dict((await ctx.db.execute(select(Member.user_id, Member.display_name).where(
        Member.community_id == ctx.community.id, Member.deleted_at.is_(None), Member.user_id.in_(users)))).all()) \
        if users else {}
    topics = {}
    for key, row in latest.items():
        text = restore(row.text, row.people, names) if set(row.people.values()) <= set(names) else None
        if text is not None:
            topics[key] = ctx.t("summary.topic", text=text)
    lines = []
    opened = restore(opening.text, opening.people, names) \
        if opening is not None and set(opening.people.values()) <= set(names) else None
    if opened is not None:
        lines.append(ctx.t("summary.opening", text=opened))
    if any(k not in topics for k in keys) or (week and opened is None):
        lines.append(ctx.t("summary.fallback"))
    return Extras(lines, topics)
