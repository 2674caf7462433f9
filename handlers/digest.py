"""The weekly digest (/周报): a moderator drafts a group's week (or a span, or one question), edits it in private,
picks answers for it and publishes it once as a numbered issue; members list and re-read issues; a published
issue is corrected by numbered notes. A weekly job publishes the week's draft if nobody has."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import func, select

from bot.cleaning import clean
from bot.context import BaseCtx, Ctx, JobCtx
from bot.errors import CommandError
from bot.events import Capability, ChatRef
from bot.flows import origin_room
from bot.roles import Role
from bot.router import Router
from bot.text import NUMBER, split_first, too_long
from handlers import ranking, search, summaries
from handlers.digest_content import Period, carry_edits, compile_sections, period, question_section
from handlers.digest_render import Shown, render
from handlers.duty_rotation import on_duty
from handlers.refs import find_answer, find_question, parse_ref
from models import ChatMessage, Digest, DigestCorrection, DigestPick, Group, Question
from models.digests import DRAFT, PUBLISHED
from models.ledger import lock_community

router = Router()

WEEK, SPAN, QUESTION = "week", "span", "question"
TEXT_LIMIT = 1000           # a rewritten section or a correction
LISTED = 20
MAX_SPAN = timedelta(days=31)
# "3天" "6小时" "3d" "6h" "3 days": a span back from now; never an issue number (第7期, 7).
SPAN_RE = re.compile(r"\A([0-9]{1,3})\s*(天|日|d|days?|小时|个小时|h|hours?)\Z", re.I)
UNITS = {"天": "days", "日": "days", "d": "days", "day": "days", "days": "days"}
ISSUE_RE = re.compile(r"\A(?:第\s*)?([0-9]{1,7})\s*期?\Z")


# ---- finding -------------------------------------------------------------------------------------------------

async def _room(ctx: Ctx) -> str:
    """The group a digest command is about: the one it is said in; in private, the group of the sender's latest
    draft, else their first group."""
    if ctx.group is not None:
        return ctx.group.room_id
    room = await ctx.db.scalar(select(Digest.room_id).where(
        Digest.community_id == ctx.community.id, Digest.status == DRAFT, Digest.requested_by == ctx.sender_id)
        .order_by(Digest.created_at.desc(), Digest.id.desc()).limit(1))
    room = room or await origin_room(ctx)
    if room is None:
        raise CommandError("digest.no_group")
    return room


async def _draft(ctx: Ctx) -> Digest:
    """The draft the command edits: the group's; in private, the sender's latest (else the community's latest)."""
    query = select(Digest).where(Digest.community_id == ctx.community.id, Digest.status == DRAFT)
    if ctx.group is not None:
        query = query.where(Digest.room_id == ctx.group.room_id)
    else:
        query = query.order_by((Digest.requested_by == ctx.sender_id).desc())
    draft = await ctx.db.scalar(query.order_by(Digest.created_at.desc(), Digest.id.desc()).limit(1))
    if draft is None:
        raise CommandError("digest.no_draft")
    return draft


async def _issue(ctx: Ctx, token: str) -> Digest:
    m = ISSUE_RE.match(token.strip())
    if m is None:
        raise CommandError("digest.read_usage")
    digest = await ctx.db.scalar(select(Digest).where(Digest.community_id == ctx.community.id,
                                                      Digest.status == PUBLISHED, Digest.number == int(m.group(1))))
    if digest is None:
        raise CommandError("digest.no_issue", n=m.group(1))
    return digest


def _section(ctx: Ctx, draft: Digest, token: str) -> str:
    """The key of the draft's section numbered `token`."""
    if not NUMBER.match(token):
        raise CommandError("digest.section_usage")
    n = int(token)
    if not 1 <= n <= len(draft.sections):
        raise CommandError("digest.no_section", n=n, count=len(draft.sections))
    return str(draft.sections[n - 1]["key"])


# ---- the document ----------------------------------------------------------------------------------------------

async def document(ctx: BaseCtx, digest: Digest, shown: Shown | None = None) -> str | None:
    """The digest as members read it: a draft with its section numbers and how to edit it; an issue with its
    number and its correction notes (None when nothing of it is left to show)."""
    sections = await render(ctx, digest, shown)
    if not sections and digest.status != DRAFT:
        return None
    return await _assemble(ctx, digest, sections)


async def _assemble(ctx: BaseCtx, digest: Digest, sections: list[tuple[int, list[str]]]) -> str:
    group = await ctx.db.get(Group, digest.room_id)
    where = (group.name if group and group.name else None) or ctx.community.name
    if digest.kind == WEEK:
        period = ctx.span(digest.start)
    elif digest.kind == QUESTION:
        period = ctx.day(digest.start)
    else:
        period = ctx.t("digest.period", start=ctx.session_label(digest.start), end=ctx.session_label(digest.end))
    draft = digest.status == DRAFT
    if draft:
        lines = [ctx.t("digest.draft_title", where=where, period=period, at=ctx.session_label(digest.end))]
    else:
        lines = [ctx.t("digest.title", where=where, n=digest.number, period=period)]
    extras = await summaries.extras(ctx, digest)          # LLM summaries, where an owner switched them on
    lines += extras.opening
    for n, section in sections:
        head, *rest = section
        lines.append(ctx.t("digest.numbered", n=n, text=head) if draft else head)
        lines += extras.under(digest.sections[n - 1]["key"])
        lines += rest
    if draft:
        if digest.dropped:
            numbers = [str(i) for i, s in enumerate(digest.sections, 1) if s["key"] in digest.dropped]
            lines.append(ctx.t("digest.dropped_note", numbers=ctx.t("common.list_sep").join(numbers)))
        lines.append(ctx.t("digest.draft_hint"))
    else:
        corrections = await ctx.db.scalars(select(DigestCorrection).where(DigestCorrection.digest_id == digest.id)
                                           .order_by(DigestCorrection.number))
        for c in corrections:
            lines.append(ctx.t("digest.correction_line", k=c.number, day=ctx.day(c.created_at), text=c.text))
        if digest.auto:
            lines.append(ctx.t("digest.auto_note"))
    return "\n".join(lines)


def _span_args(token: str) -> timedelta | None:
    m = SPAN_RE.match(token)
    if m is None:
        return None
    amount = int(m.group(1))
    unit = UNITS.get(m.group(2).lower(), "hours")
    span = timedelta(**{unit: amount})
    if not timedelta(0) < span <= MAX_SPAN:
        raise CommandError("digest.span_too_long", days=MAX_SPAN.days)
    return span


async def fresh_draft(ctx: BaseCtx, room_id: str, kind: str, start: datetime, end: datetime,
                      question: Question | None, requested_by: str, shared: Period | None = None, *,
                      shown: Shown | None = None, beside: bool = False) -> Digest | None:
    """The group's draft compiled afresh for the period (the moderator's edits of sections still there kept);
    None when there is nothing to put in it. `shared`: what the period's digests of all groups share, if read;
    `shown`: where the draft is read next.
    `beside`: a new draft, leaving the group's own alone (the weekly job's, while a moderator works on a span or
    a question)."""
    if question is not None:
        sections = [question_section(question)]
    else:
        group = await ctx.db.get_one(Group, room_id)
        sections = await compile_sections(ctx, group, shared or await period(ctx, start, end), shown)
    if not sections:
        return None
    draft = None if beside else await ctx.db.scalar(select(Digest).where(
        Digest.community_id == ctx.community.id, Digest.room_id == room_id, Digest.status == DRAFT))
    if draft is None:
        draft = Digest(community_id=ctx.community.id, room_id=room_id, dropped=[], rewritten={}, status=DRAFT,
                       auto=False, cause=ctx.cause)
        ctx.db.add(draft)
    elif (draft.kind, draft.question_id) != (kind, question.id if question else None) or (
            kind == WEEK and draft.start != start):
        draft.dropped, draft.rewritten = [], {}         # another period: the edits were of other sections
    draft.kind, draft.start, draft.end = kind, start, end
    draft.question_id = question.id if question else None
    draft.requested_by, draft.created_at = requested_by, ctx.now
    carry_edits(draft, sections)
    await ctx.db.flush()
    return draft


@router.command("digest", aliases=("周报",), role=Role.MODERATOR)
async def digest(ctx: Ctx) -> None:
    """Draft the group's digest of this week so far (or of a span back from now, or of one question) and send it
    to the moderator in private."""
    await lock_community(ctx.db, ctx.community.id)     # two moderators drafting one group: one after the other
    token = ctx.args.strip()
    room = await _room(ctx)
    question = None
    if not token:
        kind, start, end = WEEK, ctx.week_start(), ctx.now
    elif (span := _span_args(token)) is not None:
        kind, start, end = SPAN, ctx.now - span, ctx.now
    elif (number := parse_ref(token, "Q")) is not None and not NUMBER.match(token):
        question = await find_question(ctx, number)
        kind, start, end = QUESTION, question.asked_at, max(ctx.now, question.asked_at)
    else:
        raise CommandError("digest.usage")
    shown = Shown()
    draft = await fresh_draft(ctx, room, kind, start, end, question, ctx.sender_id, shown=shown)
    if draft is None:
        raise CommandError("digest.empty_span" if kind == SPAN else "digest.empty", span=ctx.span(start))
    text = await document(ctx, draft, shown) or ""         # a draft always reads (its title, what was dropped)
    moderator = await on_duty(ctx)
    if moderator is not None and moderator.id != ctx.member.id and ctx.can(Capability.CAN_DM):
        # The duty moderator compiles the digest: whoever drafts it, they get the draft too.
        await ctx.post(ChatRef(user_id=moderator.user_id), ctx.t("digest.to_duty", name=ctx.member.display_name)
                       + "\n" + text)
    if ctx.is_private:
        await ctx.reply_text(text)
    elif ctx.can(Capability.CAN_DM):
        await ctx.post(ChatRef(user_id=ctx.sender_id), text)
        await ctx.respond("digest.sent_private")
    else:       # the platform lets the bot answer in private only once the member has written to it
        await ctx.respond("digest.ask_private")


# ---- editing the draft ---------------------------------------------------------------------------------------

@router.subcommand("digest", "drop", aliases=("删", "删除"), role=Role.MODERATOR)
async def digest_drop(ctx: Ctx) -> None:
    """Leave a section of the draft out."""
    await lock_community(ctx.db, ctx.community.id)
    draft = await _draft(ctx)
    key = _section(ctx, draft, ctx.args.strip())
    if key in draft.dropped:
        raise CommandError("digest.already_dropped", n=ctx.args.strip())
    draft.dropped = [*draft.dropped, key]
    await ctx.respond("digest.dropped", n=ctx.args.strip())


@router.subcommand("digest", "edit", aliases=("改", "修改"), role=Role.MODERATOR, multiline=True)
async def digest_edit(ctx: Ctx) -> None:
    """Rewrite a section of the draft."""
    await lock_community(ctx.db, ctx.community.id)
    draft = await _draft(ctx)
    token, text = split_first(ctx.args)
    key = _section(ctx, draft, token)
    text = clean(text).strip()
    if not text:
        raise CommandError("digest.section_usage")
    if too_long(text, TEXT_LIMIT):
        raise CommandError("digest.too_long", limit=TEXT_LIMIT)
    draft.rewritten = {**draft.rewritten, key: text}
    draft.dropped = [k for k in draft.dropped if k != key]
    await ctx.respond("digest.edited", n=token)


@router.subcommand("digest", "pick", aliases=("选", "入选"), role=Role.MODERATOR)
async def digest_pick(ctx: Ctx) -> None:
    """Pick an answer of the draft's questions for the digest (入选周报): it counts in its author's score."""
    await lock_community(ctx.db, ctx.community.id)
    draft = await _draft(ctx)
    number = parse_ref(ctx.args, "A") if ctx.args.strip() else None
    if number is None or NUMBER.match(ctx.args.strip()):
        raise CommandError("digest.pick_usage")
    item = await find_answer(ctx, number)
    ref = f"A{item.number}"
    if f"q:{item.question_id}" not in {s["key"] for s in draft.sections}:
        raise CommandError("digest.pick_not_in", ref=ref)
    if item.author_id == ctx.member.id:
        raise CommandError("digest.pick_own", ref=ref)
    if await ctx.db.scalar(select(DigestPick.id).where(DigestPick.answer_id == item.id)) is not None:
        raise CommandError("digest.pick_already", ref=ref)
    ctx.db.add(DigestPick(community_id=ctx.community.id, digest_id=draft.id, answer_id=item.id,
                          author_id=item.author_id, picked_by=ctx.member.id, picked_at=ctx.now, cause=ctx.cause))
    author = (await ranking.names(ctx, [item.author_id]))[item.author_id]
    await ctx.respond("digest.picked_ok", ref=ref, author=author.display_name)


async def publish(ctx: BaseCtx, draft: Digest, *, by: str | None, shown: Shown | None = None) -> int | None:
    """Number the draft and post it to its group, with its parts, in this transaction (so once); its number, or
    None (changing nothing) when nothing of it is left to show."""
    sections = await render(ctx, draft, shown)
    if not sections:
        return None
    top = await ctx.db.scalar(select(func.max(Digest.number)).where(Digest.community_id == ctx.community.id))
    draft.number = (top or 0) + 1
    draft.status, draft.published_at, draft.published_by, draft.auto = PUBLISHED, ctx.now, by, by is None
    await ctx.db.flush()
    await ctx.post(ChatRef(room_id=draft.room_id), await _assemble(ctx, draft, sections), purpose="digest")
    await search.index_digest(ctx, draft, sections)
    return draft.number


@router.subcommand("digest", "publish", aliases=("发布",), role=Role.MODERATOR)
async def digest_publish(ctx: Ctx) -> None:
    """Publish the draft to its group as the next numbered issue."""
    await lock_community(ctx.db, ctx.community.id)
    if ctx.args.strip():
        raise CommandError("digest.publish_usage")
    draft = await _draft(ctx)
    number = await publish(ctx, draft, by=ctx.sender_id)
    if number is None:
        raise CommandError("digest.nothing_left")
    if ctx.chat != ChatRef(room_id=draft.room_id):
        await ctx.respond("digest.published", n=number)


@router.subcommand("digest", "ai", aliases=("AI",), role=Role.OWNER)
async def digest_ai(ctx: Ctx) -> None:
    """Switch LLM summaries of the group's digests on or off (an owner, in the group)."""
    await summaries.switch(ctx)


# ---- issues ------------------------------------------------------------------------------------------------------

@router.subcommand("digest", "list", aliases=("列表",))
async def digest_list(ctx: Ctx) -> None:
    """The published issues, newest first."""
    if ctx.args.strip():
        raise CommandError("digest.list_usage")
    query = select(Digest).where(Digest.community_id == ctx.community.id, Digest.status == PUBLISHED)
    if ctx.group is not None:
        query = query.where(Digest.room_id == ctx.group.room_id)
    issues = list(await ctx.db.scalars(query.order_by(Digest.number.desc()).limit(LISTED)))
    if not issues:
        raise CommandError("digest.none")
    lines = [ctx.t("digest.list_title")]
    for d in issues:
        period = ctx.span(d.start) if d.kind == WEEK else ctx.day(d.start)
        by = ctx.t("digest.by_job") if d.auto else ""
        lines.append(ctx.t("digest.list_line", n=d.number, period=period, day=ctx.day(d.published_at or d.start),
                           by=by))
    lines.append(ctx.t("digest.list_hint"))
    await ctx.reply_text("\n".join(lines))


@router.subcommand("digest", "no", aliases=("期", "第"), pattern=r"第\s*[0-9]{1,7}\s*期|[0-9]{1,7}")
async def digest_no(ctx: Ctx) -> None:
    """Read a published issue again, as it stands now (content hidden or deleted since is left out)."""
    issue = await _issue(ctx, ctx.args)
    text = await document(ctx, issue)
    if text is None:
        raise CommandError("digest.all_gone", n=issue.number)
    await ctx.reply_text(text)


@router.subcommand("digest", "fix", aliases=("更正",), role=Role.MODERATOR, multiline=True)
async def digest_fix(ctx: Ctx) -> None:
    """Post a numbered correction note to a published issue (an issue is never edited)."""
    await lock_community(ctx.db, ctx.community.id)
    token, text = split_first(ctx.args)
    if not token:
        raise CommandError("digest.fix_usage")
    issue = await _issue(ctx, token)
    text = clean(text).strip()
    if not text:
        raise CommandError("digest.fix_usage")
    if too_long(text, TEXT_LIMIT):
        raise CommandError("digest.too_long", limit=TEXT_LIMIT)
    top = await ctx.db.scalar(select(func.max(DigestCorrection.number)).where(DigestCorrection.digest_id == issue.id))
    note = DigestCorrection(digest_id=issue.id, number=(top or 0) + 1, text=text, author_id=ctx.member.id,
                            created_at=ctx.now, cause=ctx.cause)
    ctx.db.add(note)
    await ctx.post(ChatRef(room_id=issue.room_id), ctx.t("digest.correction", n=issue.number, k=note.number,
                                                         text=text))
    if ctx.chat != ChatRef(room_id=issue.room_id):
        await ctx.respond("digest.fixed", n=issue.number, k=note.number)


# ---- the weekly job ----------------------------------------------------------------------------------------------

@router.job("publish_digest", catch_up="latest")
async def publish_digest(job: JobCtx) -> None:
    """Publish the week's digest of each group that had kept chat or questions of its own that week, at the
    configured time, unless a moderator already has; a week with nothing in it posts nothing."""
    await lock_community(job.db, job.community.id)
    start = job.week_start(job.period)
    end = min(job.now, ranking.week_end(job, start))
    shared, shown = await period(job, start, end), Shown()
    for group in await job.groups():
        done = await job.db.scalar(select(Digest.id).where(
            Digest.room_id == group.room_id, Digest.status == PUBLISHED, Digest.kind == WEEK, Digest.start == start))
        chatted = await job.db.scalar(select(ChatMessage.id).where(
            ChatMessage.room_id == group.room_id, ChatMessage.sent_at >= start, ChatMessage.sent_at < end).limit(1))
        if done is not None or (chatted is None and group.room_id not in shared.asked_in):
            continue        # published by hand, or a week with neither chat nor questions of its own here
        draft = await job.db.scalar(select(Digest).where(Digest.room_id == group.room_id, Digest.status == DRAFT))
        # A moderator's draft of this week is what goes out, with their edits; a draft of a span or a question
        # (a guest talk being written up) stays theirs, and the week is compiled beside it.
        own = draft is not None and (draft.kind, draft.start) == (WEEK, start)
        fresh = await fresh_draft(job, group.room_id, WEEK, start, end, None,
                                  draft.requested_by if draft is not None and own else "", shared,
                                  shown=shown, beside=draft is not None and not own)
        if fresh is not None:
            await publish(job, fresh, by=None, shown=shown)

