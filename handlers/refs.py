"""Q12 / A37: the ids members type, and finding what they name."""
from __future__ import annotations

import re

from sqlalchemy import select

from bot.context import BaseCtx, Ctx
from bot.errors import CommandError
from bot.roles import Role
from bot.text import NUMBER
from models import Answer, Question

# ASCII digits only: int() would also read "²" or "٣" (or fail on them), and an id is typed, not pasted.
REF = re.compile(r"\A([QqAa])\s*([0-9]{1,7})\Z", re.A)


def parse_ref(token: str, kind: str) -> int | None:
    """'Q12' / 'q12' (or a bare '12') -> 12 when it names a `kind` ('Q' or 'A'); else None."""
    token = token.strip()
    if NUMBER.match(token):
        return int(token)
    m = REF.match(token)
    return int(m.group(2)) if m and m.group(1).upper() == kind else None


def is_moderator(ctx: Ctx) -> bool:
    return bool(ctx.roles & {Role.MODERATOR, Role.OWNER})


async def find_question(ctx: BaseCtx, number: int, *, moderator: bool = False) -> Question:
    question = await ctx.db.scalar(select(Question).where(Question.community_id == ctx.community.id,
                                                          Question.number == number))
    if question is None or (question.hidden and not moderator):
        raise CommandError("question.not_found", ref=f"Q{number}")
    return question


async def find_answer(ctx: BaseCtx, number: int, *, moderator: bool = False) -> Answer:
    """An answer by its number; for members not one that is hidden, nor one of a hidden question."""
    row = (await ctx.db.execute(select(Answer, Question.hidden).join(Question, Question.id == Answer.question_id)
                                .where(Answer.community_id == ctx.community.id, Answer.number == number))).first()
    if row is None or ((row[0].hidden or row[1]) and not moderator):
        raise CommandError("answer.not_found", ref=f"A{number}")
    return row[0]
