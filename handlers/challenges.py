"""Outsider challenges: a moderator opens a question to outsiders; one who joins with the code and gives the best
answer has the entry fee waived (a memo in the open ledger, not cash)."""
from __future__ import annotations

import base64
import hashlib

from sqlalchemy import select

from bot.context import BaseCtx, Ctx
from bot.errors import CommandError
from bot.money import format_fen
from bot.roles import Role
from bot.router import Router
from bot.text import clip
from handlers.fund import cash
from handlers.refs import find_question, parse_ref
from models import Challenger, Member, Question
from models.ledger import FEN, find_entry, post
from models.questions import CLOSED

router = Router()


def fee_text(ctx: BaseCtx) -> str:
    return format_fen(ctx.ccfg.fund.entry_fee_fen)


def _code(ctx: BaseCtx, question: Question) -> str:
    """Six letters and digits, unguessable without the community's start time, stable for one opening."""
    seed = f"{ctx.community.id}:{question.id}:{ctx.community.started_at.isoformat()}:{ctx.cause}".encode()
    raw = base64.b32encode(hashlib.sha256(seed).digest()).decode()
    return "".join(c for c in raw if c not in "01IO")[:6]


@router.command("challenge", aliases=("挑战",), role=Role.MODERATOR)
async def challenge(ctx: Ctx) -> None:
    """Open a question to outsiders: the code lets them join and answer; the best answer joins free."""
    number = parse_ref(ctx.args, "Q") if ctx.args else None
    if number is None:
        raise CommandError("challenge.usage")
    question = await find_question(ctx, number)
    if question.status == CLOSED:
        raise CommandError("challenge.closed", ref=f"Q{question.number}")
    if question.challenge_code is None:
        question.challenge_code, question.challenge_opened_at = _code(ctx, question), ctx.now
    await ctx.reply("challenge.opened", ref=f"Q{question.number}", title=question.title, code=question.challenge_code,
                    fee=fee_text(ctx))


@router.command("accept", aliases=("应战",))
async def accept(ctx: Ctx) -> None:
    """Take up a challenge with its code (for members who joined after it was opened)."""
    code = ctx.args.strip().upper()
    if not code:
        raise CommandError("accept.usage")
    question = await ctx.db.scalar(select(Question).where(Question.community_id == ctx.community.id,
                                                          Question.challenge_code == code[:12]))
    if question is None or question.hidden:
        raise CommandError("accept.unknown", code=clip(code, 12))
    if question.status == CLOSED:
        raise CommandError("challenge.closed", ref=f"Q{question.number}")
    # When the bot first saw them at all: leaving and joining again does not make a member an outsider.
    if question.challenge_opened_at is None or ctx.member.first_seen_at < question.challenge_opened_at:
        raise CommandError("accept.not_outsider", ref=f"Q{question.number}")
    if await ctx.db.get(Challenger, (question.id, ctx.member.id)) is not None:
        raise CommandError("accept.already", ref=f"Q{question.number}")
    ctx.db.add(Challenger(question_id=question.id, member_id=ctx.member.id, accepted_at=ctx.now))
    await ctx.reply("accept.ok", ref=f"Q{question.number}", title=question.title, fee=fee_text(ctx),
                    name=ctx.member.display_name)


async def on_best_answer(ctx: Ctx, question: Question, author: Member) -> None:
    """A challenger's answer chosen best: the entry fee is waived, once per member, in the open ledger."""
    if question.challenge_code is None or author.deleted_at is not None:
        return
    if await ctx.db.get(Challenger, (question.id, author.id)) is None:
        return
    key = f"waiver:{author.id}"
    if await find_entry(ctx.db, ctx.community.id, FEN, key) is not None:
        return
    fee = ctx.ccfg.fund.entry_fee_fen
    entry, _ = await post(ctx.db, await cash(ctx, "memo"), await cash(ctx, "waived"), fee, kind="waiver", key=key,
                          cause=ctx.cause, now=ctx.now, member_id=author.id, actor_id=ctx.member.id,
                          question_id=question.id, reason=f"Q{question.number}")
    await ctx.reply("challenge.won", mentions=(author.user_id,), name=author.display_name, ref=f"Q{question.number}",
                    fee=format_fen(fee), n=entry.number)
