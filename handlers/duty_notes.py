"""What the new duty moderator is told at a handover: the duty itself (from the locale files), the open questions
nobody has answered with the members the directory suggests for each, and when the session and the digest are
due."""
from __future__ import annotations

from sqlalchemy import exists, select

from bot.context import BaseCtx
from bot.weeks import weekly_cron
from handlers.duty_kpis import tier_rule
from handlers.sessions import suggested_people
from models import Answer, Question
from models.duty import DutyShift
from models.questions import OPEN
from scheduler.core import next_fire_time

OPEN_SHOWN = 10             # open questions listed in a handover note


async def unanswered(ctx: BaseCtx, limit: int = OPEN_SHOWN) -> list[Question]:
    """Open, visible questions without a visible answer, oldest first."""
    answered = exists().where(Answer.question_id == Question.id, Answer.hidden.is_(False))
    return list(await ctx.db.scalars(select(Question).where(
        Question.community_id == ctx.community.id, Question.status == OPEN, Question.hidden.is_(False), ~answered)
        .order_by(Question.number).limit(limit)))


async def handover_note(ctx: BaseCtx, shift: DutyShift) -> str:
    """The note for whoever has just gone on duty with `shift`."""
    session = next_fire_time(weekly_cron(ctx.ccfg.questions.session), ctx.tz, ctx.now)
    digest = next_fire_time(ctx.ccfg.schedule.publish_digest, ctx.tz, ctx.now)
    lines = [ctx.t("duty.note_title", start=ctx.session_label(shift.started_at),
                   end=ctx.session_label(shift.term_end)),
             ctx.t("duty.note_duties", session=ctx.session_label(session) if session else "-",
                   digest=ctx.session_label(digest) if digest else "-"),
             ctx.t("duty.note_kpi", rule=tier_rule(ctx.locale, ctx.ccfg.duty.tiers))]
    questions = await unanswered(ctx)
    if not questions:
        lines.append(ctx.t("duty.note_no_open"))
    else:
        lines.append(ctx.t("duty.note_open", count=len(questions)))
        for question in questions:
            people = await suggested_people(ctx, question)
            who = ctx.t("duty.note_who", names=ctx.t("common.list_sep").join(m.display_name for m in people)) \
                if people else ""
            lines.append(ctx.t("duty.note_question", ref=f"Q{question.number}", title=question.title, who=who))
    return "\n".join(lines)
