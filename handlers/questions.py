"""Questions asked ahead of the weekly session, answers, the best answer, edits and moderation."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from bot.cleaning import clean, quoted
from bot.config import parse_week_start
from bot.context import BaseCtx, Ctx
from bot.errors import CommandError
from bot.events import ChatRef
from bot.flows import SKIP_WORDS, flow_chat, flow_expired, flow_timeout, load_flow, open_flow, origin_room, tell
from bot.money import format_fen
from bot.roles import Role
from bot.router import Router
from bot.text import split_first, too_long
from handlers import challenges, fund, ranking, search
from handlers.refs import REF, find_answer, find_question, is_moderator, parse_ref
from models import Answer, Group, LedgerEntry, Member, Question, WeeklyResult
from models.ledger import lock_community
from models.questions import CLOSED, OPEN

router = Router()

TITLE_LIMIT = 60
BODY_LIMIT = 1000
ANSWER_LIMIT = 2000
LISTED = 20            # questions in /questions
SHOWN_ANSWERS = 10     # answers in /q


# ---- the weekly session --------------------------------------------------------------------------------------

def session_for(ctx: BaseCtx, at: datetime) -> datetime:
    """The session a question asked at `at` goes to: the next one whose cutoff is still ahead."""
    qcfg = ctx.ccfg.questions
    tz = ctx.tz
    weekday, hour, minute = parse_week_start(qcfg.session)
    local = at.astimezone(tz)
    day = local.date() + timedelta(days=(weekday - local.weekday()) % 7)
    cutoff = timedelta(days=qcfg.cutoff_days)
    while True:
        session = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)   # wall clock, across DST
        if at <= session - cutoff:
            return session
        day += timedelta(days=7)


# ---- ids ----------------------------------------------------------------------------------------------------

async def _question_arg(ctx: Ctx, usage: str, *, moderator: bool = False) -> tuple[Question, str]:
    """The Q-id that starts the arguments, and the rest of them."""
    first, rest = split_first(ctx.args)
    number = parse_ref(first, "Q") if first else None
    if number is None:
        raise CommandError(usage)
    return await find_question(ctx, number, moderator=moderator), rest.strip()


async def _next_number(ctx: BaseCtx, model: type[Question] | type[Answer]) -> int:
    top = await ctx.db.scalar(select(func.max(model.number)).where(model.community_id == ctx.community.id))
    return (top or 0) + 1


def _check_text(text: str, limit: int, key: str, empty: str) -> str:
    """A title, background or answer: nothing invisible counts (CommandError `empty`), at most `limit` long."""
    text = clean(text).strip()
    if not text:
        raise CommandError(empty)
    if too_long(text, limit):
        raise CommandError(key, limit=limit)
    return text


def _title_and_body(text: str) -> tuple[str, str | None]:
    first, _, rest = text.strip().partition("\n")
    title = _check_text(first, TITLE_LIMIT, "ask.title_too_long", "ask.no_title")
    body = _check_text(rest, BODY_LIMIT, "ask.body_too_long", "ask.no_title") if clean(rest).strip() else None
    return title, body


async def _name(ctx: BaseCtx, member_id: int) -> str:
    return await ctx.db.scalar(select(Member.display_name).where(Member.id == member_id)) or "?"


# ---- asking --------------------------------------------------------------------------------------------------

async def _create(ctx: Ctx, title: str, body: str | None, room_id: str | None) -> Question:
    """A new question; `room_id` is the group it was asked in (None: asked in private, belonging to no group)."""
    question = Question(community_id=ctx.community.id, number=await _next_number(ctx, Question),
                        asker_id=ctx.member.id, room_id=room_id, title=title, body=body,
                        asked_at=ctx.now, session_at=session_for(ctx, ctx.now), status=OPEN, hidden=False,
                        cause=ctx.cause)
    ctx.db.add(question)
    await ctx.db.flush()
    await search.index_question(ctx, question)
    return question


async def _created_text(ctx: BaseCtx, question: Question, key: str = "ask.created") -> str:
    """The question's confirmation, with the similar past questions the asker may read first."""
    return "\n".join([ctx.t(key, ref=f"Q{question.number}", title=question.title,
                            session=ctx.session_label(question.session_at)),
                      *await search.similar_questions(ctx, question)])


@router.command("ask", aliases=("提问",), multiline=True)
async def ask(ctx: Ctx) -> None:
    """Ask a question for the weekly session: the title on the first line, background on the following ones;
    without them, step by step (title, then background)."""
    if not ctx.args:
        chat = flow_chat(ctx)
        # The question is announced where it was asked, though the flow may go on in private.
        await open_flow(ctx, chat, "ask", "question", {"room": await origin_room(ctx)})
        if chat != ctx.chat:
            await ctx.respond("ask.moved_to_dm")
        await tell(ctx, chat, ctx.t("ask.prompt", limit=TITLE_LIMIT))
        return
    title, body = _title_and_body(ctx.args)
    room_id = await origin_room(ctx)        # asked in private, it still belongs to (and is announced in) a group
    question = await _create(ctx, title, body, room_id)
    if body is not None:
        await _announce(ctx, room_id, question)
        return
    chat = flow_chat(ctx)
    await open_flow(ctx, chat, "ask", "background", {"question": question.id})
    if chat == ctx.chat and ctx.group is None:
        await _announce(ctx, room_id, question)
        await tell(ctx, chat, ctx.t("ask.background_prompt"))
    elif chat == ctx.chat:
        await tell(ctx, chat, await _created_text(ctx, question) + "\n" + ctx.t("ask.background_prompt"))
    else:
        await ctx.reply_text(await _created_text(ctx, question))
        await tell(ctx, chat, ctx.t("ask.background_prompt_dm", ref=f"Q{question.number}", title=question.title))


async def _announce(ctx: Ctx, room_id: str | None, question: Question) -> None:
    """The end of a question asked step by step, as the one-message form ends: announced in the group it was asked
    from (the flow ran there where the platform cannot send in private), and confirmed in private."""
    group = await ctx.db.get(Group, room_id) if room_id is not None and ctx.group is None else None
    if group is None or not group.enabled or group.community_id != ctx.community.id:
        # asked in the group, or in private by a member of no group the bot serves
        await ctx.reply_text(await _created_text(ctx, question))
        return
    await ctx.post(ChatRef(room_id=group.room_id), ctx.t("ask.created", ref=f"Q{question.number}",
                                                         title=question.title,
                                                         session=ctx.session_label(question.session_at)))
    await ctx.reply_text(await _created_text(ctx, question, "ask.created_announced"))


@router.on_text
async def ask_reply(ctx: Ctx) -> bool:
    """The messages after /ask: the question (its title, perhaps with background), then its background."""
    flow = await load_flow(ctx, ctx.sender_id)
    if flow is None or flow.kind != "ask" or flow.chat_key != ctx.chat.key:
        return False
    if flow_expired(ctx, flow):
        await ctx.db.delete(flow)
        await tell(ctx, ctx.chat, ctx.t("ask.expired"))
        return True
    text = ctx.event.text.strip()
    skipped = not text or text.lower() in SKIP_WORDS
    if flow.step == "question":
        if text.lower() in SKIP_WORDS:
            await ctx.db.delete(flow)
            await tell(ctx, ctx.chat, ctx.t("ask.cancelled"))
            return True
        title, body = _title_and_body(text)
        if body is None:        # the background comes next, like the signup's next question
            flow.step, flow.data = "body", {**flow.data, "title": title}
            flow.expires_at = ctx.now + flow_timeout(ctx)
            await tell(ctx, ctx.chat, ctx.t("ask.body_prompt", title=title))
            return True
        await ctx.db.delete(flow)
        await _announce(ctx, flow.data.get("room"), await _create(ctx, title, body, flow.data.get("room")))
        return True
    await ctx.db.delete(flow)
    if flow.step == "body":
        body = None if skipped else _check_text(text, BODY_LIMIT, "ask.body_too_long", "ask.no_title")
        room_id = flow.data.get("room")
        await _announce(ctx, room_id, await _create(ctx, flow.data["title"], body, room_id))
        return True
    asked = await ctx.db.get(Question, flow.data["question"])
    if asked is None or skipped:
        await tell(ctx, ctx.chat, ctx.t("ask.background_skipped"))
        return True
    asked.body = _check_text(text, BODY_LIMIT, "ask.body_too_long", "ask.no_title")
    await search.index_question(ctx, asked)
    await tell(ctx, ctx.chat, ctx.t("ask.background_saved", ref=f"Q{asked.number}"))
    return True


# ---- answering -----------------------------------------------------------------------------------------------

@router.command("answer", aliases=("回答",), multiline=True)
async def answer(ctx: Ctx) -> None:
    """Answer a question by its id; the answer gets its own id (A37) that others can tip."""
    question, text = await _question_arg(ctx, "answer.usage")
    if not text:
        raise CommandError("answer.usage")
    if question.status == CLOSED:
        raise CommandError("answer.closed", ref=f"Q{question.number}")
    body = _check_text(text, ANSWER_LIMIT, "answer.too_long", "answer.usage")
    item = Answer(community_id=ctx.community.id, number=await _next_number(ctx, Answer), question_id=question.id,
                  author_id=ctx.member.id, body=body, answered_at=ctx.now, hidden=False, cause=ctx.cause)
    ctx.db.add(item)
    await ctx.db.flush()
    await search.index_answer(ctx, item)
    asker = await ctx.db.get_one(Member, question.asker_id)
    if asker.id != ctx.member.id and ctx.group is not None and not asker.deleted_at:
        await ctx.reply("answer.ok_notify", mentions=(asker.user_id,), ref=f"A{item.number}",
                        question=f"Q{question.number}", asker=asker.display_name)
    else:
        await ctx.reply("answer.ok", ref=f"A{item.number}", question=f"Q{question.number}")


@router.command("q", aliases=("问题", "看问题"))
async def show(ctx: Ctx) -> None:
    """Show a question with its answers."""
    number = parse_ref(ctx.args, "Q") if ctx.args else None
    if number is None:
        raise CommandError("q.usage")
    moderator = is_moderator(ctx)
    question = await find_question(ctx, number, moderator=moderator)
    lines = [ctx.t("q.head", ref=f"Q{question.number}", title=question.title, asker=await _name(ctx, question.asker_id),
                   session=ctx.session_label(question.session_at))]
    if question.status == CLOSED:
        lines[0] += ctx.t("q.closed")
    if question.hidden:
        lines[0] += ctx.t("q.hidden")
    if question.body:
        lines.append(ctx.t("q.body", body=quoted(question.body)))
    if question.challenge_code and question.status == OPEN:
        lines.append(ctx.t("q.challenge", fee=challenges.fee_text(ctx)))
    query = select(Answer, Member.display_name).join(Member, Member.id == Answer.author_id).where(
        Answer.question_id == question.id)
    if not moderator:
        query = query.where(Answer.hidden.is_(False))
    answers = sorted((await ctx.db.execute(query.order_by(Answer.number))).all(),
                     key=lambda row: row[0].id != question.best_answer_id)      # the best answer first
    if not answers:
        lines.append(ctx.t("q.no_answers", ref=f"Q{question.number}"))
    else:
        lines.append(ctx.t("q.answers", count=len(answers)))
    for item, author in answers[:SHOWN_ANSWERS]:
        mark = ctx.t("q.best_mark") if item.id == question.best_answer_id else ""
        hidden = ctx.t("q.hidden") if item.hidden else ""
        lines.append(ctx.t("q.answer", ref=f"A{item.number}", author=author, body=quoted(item.body), mark=mark)
                     + hidden)
    if len(answers) > SHOWN_ANSWERS:
        lines.append(ctx.t("q.more_answers", count=len(answers) - SHOWN_ANSWERS))
    await ctx.reply_text("\n".join(lines))


@router.command("questions", aliases=("问题列表", "议程"))
async def questions(ctx: Ctx) -> None:
    """List the open questions by session."""
    rows = (await ctx.db.execute(
        select(Question, Member.display_name).join(Member, Member.id == Question.asker_id)
        .where(Question.community_id == ctx.community.id, Question.status == OPEN, Question.hidden.is_(False))
        .order_by(Question.session_at, Question.number).limit(LISTED + 1))).all()
    counts = dict((await ctx.db.execute(
        select(Answer.question_id, func.count()).where(Answer.question_id.in_([q.id for q, _ in rows]),
                                                       Answer.hidden.is_(False))
        .group_by(Answer.question_id))).all()) if rows else {}
    if not rows:
        raise CommandError("questions.none")
    lines = [ctx.t("questions.title")]
    session = None
    for question, asker in rows[:LISTED]:
        if question.session_at != session:
            session = question.session_at
            lines.append(ctx.t("questions.session", session=ctx.session_label(session)))
        lines.append(ctx.t("questions.line", ref=f"Q{question.number}", title=question.title, asker=asker,
                           answers=counts.get(question.id, 0)))
    if len(rows) > LISTED:
        lines.append(ctx.t("questions.more"))
    lines.append(ctx.t("questions.hint"))
    await ctx.reply_text("\n".join(lines))


# ---- the asker's and the moderators' decisions -----------------------------------------------------------------

@router.command("best", aliases=("最佳",))
async def best(ctx: Ctx) -> None:
    """Mark the best answer of a question (the asker or a moderator; nobody their own answer)."""
    await lock_community(ctx.db, ctx.community.id)      # scores change: not while a payout or a hide runs
    moderator = is_moderator(ctx)
    question, rest = await _question_arg(ctx, "best.usage", moderator=moderator)
    number = parse_ref(rest, "A") if rest else None
    if number is None:
        raise CommandError("best.usage")
    if question.asker_id != ctx.member.id and not moderator:
        raise CommandError("best.not_yours", ref=f"Q{question.number}")
    item = await find_answer(ctx, number, moderator=moderator)
    if item.question_id != question.id:
        raise CommandError("best.other_question", answer=f"A{item.number}", ref=f"Q{question.number}")
    if question.hidden or item.hidden:       # only moderators get this far with a hidden one
        raise CommandError("best.hidden", ref=f"Q{question.number}" if question.hidden else f"A{item.number}")
    if item.author_id == question.asker_id:
        raise CommandError("best.own_answer")
    if item.author_id == ctx.member.id:      # a moderator who answered someone else's question
        raise CommandError("best.self", answer=f"A{item.number}", ref=f"Q{question.number}")
    if question.best_answer_id == item.id:
        raise CommandError("best.already", answer=f"A{item.number}")

    def change() -> None:
        question.best_answer_id, question.best_marked_at, question.best_marked_by = item.id, ctx.now, ctx.sender_id

    if question.best_answer_id is None:
        change()
    else:       # the earlier best leaves the all-time totals of a week already paid (its payout stands)
        await ranking.rescore(ctx, question, change)
    author = await ctx.db.get_one(Member, item.author_id)
    mentions = () if author.deleted_at else (author.user_id,)
    await ctx.reply("best.ok", mentions=mentions, answer=f"A{item.number}", ref=f"Q{question.number}",
                    author=f"@{author.display_name}" if mentions else author.display_name)
    await challenges.on_best_answer(ctx, question, author)


@router.command("close", aliases=("关闭", "结题"))
async def close(ctx: Ctx) -> None:
    """Close a question: no more answers (its answers can still be tipped)."""
    question, _ = await _question_arg(ctx, "close.usage")
    if question.asker_id != ctx.member.id and not is_moderator(ctx):
        raise CommandError("close.not_yours", ref=f"Q{question.number}")
    if question.status == CLOSED:
        raise CommandError("close.already", ref=f"Q{question.number}")
    question.status, question.closed_at = CLOSED, ctx.now
    key = "close.ok" if question.best_answer_id else "close.ok_no_best"
    await ctx.reply(key, ref=f"Q{question.number}")


async def _item(ctx: Ctx, usage: str, *, moderator: bool = False) -> tuple[Question | Answer, str, str]:
    """The Q- or A-id that starts the arguments: (the item, its id as typed back, the rest)."""
    first, rest = split_first(ctx.args)
    m = REF.match(first.strip()) if first else None
    if m is None:
        raise CommandError(usage)
    number = int(m.group(2))
    if m.group(1).upper() == "Q":
        return await find_question(ctx, number, moderator=moderator), f"Q{number}", rest.strip()
    return await find_answer(ctx, number, moderator=moderator), f"A{number}", rest.strip()


@router.command("edit", aliases=("修改",), multiline=True)
async def edit(ctx: Ctx) -> None:
    """Rewrite your own question (title, and background on the following lines) or answer."""
    item, ref, text = await _item(ctx, "edit.usage")
    author = item.asker_id if isinstance(item, Question) else item.author_id
    if author != ctx.member.id:
        raise CommandError("edit.not_yours", ref=ref)
    if not text:
        raise CommandError("edit.usage")
    if isinstance(item, Question):
        title, body = _title_and_body(text)
        item.title = title
        if body is not None:
            item.body = body
        await search.index_question(ctx, item)
    else:
        item.body = _check_text(text, ANSWER_LIMIT, "answer.too_long", "edit.usage")
        await search.index_answer(ctx, item)
    item.edited_at = ctx.now
    await ctx.respond("edit.ok", ref=ref)


@router.command("hide", aliases=("隐藏",), role=Role.MODERATOR)
async def hide(ctx: Ctx) -> None:
    """Hide a question or answer (moderators): it leaves listings, the agenda, the ranking and payouts."""
    await lock_community(ctx.db, ctx.community.id)
    item, ref, _ = await _item(ctx, "hide.usage", moderator=True)
    if item.hidden:
        raise CommandError("hide.already", ref=ref)

    def change() -> None:
        item.hidden, item.hidden_by = True, ctx.sender_id

    paid = await ranking.rescore(ctx, item, change)
    await ctx.reply_text("\n".join([ctx.t("hide.ok", ref=ref), *await _paid_before(ctx, ref, paid)]))


@router.command("unhide", aliases=("取消隐藏",), role=Role.MODERATOR)
async def unhide(ctx: Ctx) -> None:
    """Show a hidden question or answer again (moderators)."""
    await lock_community(ctx.db, ctx.community.id)
    item, ref, _ = await _item(ctx, "unhide.usage", moderator=True)
    if not item.hidden:
        raise CommandError("unhide.not_hidden", ref=ref)

    def change() -> None:
        item.hidden, item.hidden_by = False, None

    await ranking.rescore(ctx, item, change)
    await ctx.reply("unhide.ok", ref=ref)


async def _paid_before(ctx: Ctx, ref: str, paid: list[WeeklyResult]) -> list[str]:
    """Rewards already paid for weeks that `ref` counted in: they stand, and the owner is told how to undo them."""
    if not paid:
        return []
    entries = dict((await ctx.db.execute(select(LedgerEntry.id, LedgerEntry.number).where(
        LedgerEntry.id.in_([r.entry_id for r in paid])))).all())
    names = dict((await ctx.db.execute(select(Member.id, Member.display_name).where(
        Member.id.in_([r.member_id for r in paid])))).all())
    owed = await fund.owed_to(ctx, [r.member_id for r in paid])
    lines = [ctx.t("hide.paid", ref=ref)]
    for r in paid:
        # A reward still owed can be reversed; one handed over needs its payment reversed first.
        status = ctx.t("fund.owed") if owed.get(r.member_id, 0) >= r.amount else ctx.t("hide.settled")
        lines.append(ctx.t("hide.paid_line", n=entries.get(r.entry_id or 0, "?"), name=names[r.member_id],
                           amount=format_fen(r.amount), span=ctx.span(r.week), status=status))
    return lines
