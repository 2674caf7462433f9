"""The talent archive: what a member gave the community (best answers, answers picked for digests, guest talks
given, answers in the Q&A sessions, points received), for them and the owners; others see it when the member makes
it public."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from bot.context import BaseCtx, Ctx
from bot.errors import CommandError
from bot.router import Router
from bot.text import clip
from handlers.tips import points_received
from models import Answer, ArchiveSetting, DigestPick, Member, Question, Talk
from models.talks import CANCELLED

router = Router()
LISTED = 5           # best answers and picks listed by name; the rest are counted


@dataclass
class Archive:
    best: list[tuple[Answer, Question]]
    best_count: int
    picked: list[tuple[Answer, Question]]
    picked_count: int
    answers: int
    questions_answered: int
    points: int
    talks: list[Talk]

    @property
    def empty(self) -> bool:
        return not (self.best_count or self.picked_count or self.answers or self.points or self.talks)


def _visible() -> tuple:
    return (Answer.hidden.is_(False), Question.hidden.is_(False))


async def archive_of(ctx: BaseCtx, member: Member) -> Archive:
    """A member's record: hidden questions and answers do not count."""
    best_q = (select(Answer, Question).join(Question, Question.best_answer_id == Answer.id)
              .where(Answer.author_id == member.id, *_visible()))
    best = [(a, q) for a, q in await ctx.db.execute(best_q.order_by(Question.best_marked_at.desc()).limit(LISTED))]
    best_count = await ctx.db.scalar(select(func.count()).select_from(best_q.subquery())) or 0
    picked_q = (select(Answer, Question).join(DigestPick, DigestPick.answer_id == Answer.id)
                .join(Question, Question.id == Answer.question_id).where(DigestPick.author_id == member.id,
                                                                         *_visible()))
    picked = [(a, q) for a, q in await ctx.db.execute(picked_q.order_by(DigestPick.picked_at.desc()).limit(LISTED))]
    picked_count = await ctx.db.scalar(select(func.count()).select_from(picked_q.subquery())) or 0
    answers, questions = (await ctx.db.execute(
        select(func.count(Answer.id), func.count(func.distinct(Answer.question_id)))
        .join(Question, Question.id == Answer.question_id).where(Answer.author_id == member.id, *_visible()))).one()
    # Guest talks given: a talk's guest is written as the moderator typed it, so it is the member's name (with or
    # without an @) that makes it theirs.
    talks = [t for t in await ctx.db.scalars(select(Talk).where(
        Talk.community_id == ctx.community.id, Talk.status != CANCELLED, Talk.starts_at <= ctx.now)
        .order_by(Talk.starts_at.desc())) if t.guest.strip().lstrip("@＠").strip() == member.display_name]
    return Archive(best, int(best_count), picked, int(picked_count), int(answers), int(questions),
                   await points_received(ctx, member.id), talks)


async def is_public(ctx: BaseCtx, member: Member) -> bool:
    setting = await ctx.db.get(ArchiveSetting, member.id)
    return bool(setting and setting.public)


def _item(ctx: BaseCtx, answer: Answer, question: Question) -> str:
    return ctx.t("archive.item", answer=f"A{answer.number}", question=f"Q{question.number}",
                 title=clip(question.title, 30))


def render(ctx: BaseCtx, member: Member, record: Archive, public: bool) -> str:
    lines = [ctx.t("archive.title", name=member.display_name,
                   visibility=ctx.t("archive.public" if public else "archive.hidden_note"))]
    if record.empty:
        lines.append(ctx.t("archive.empty"))
        return "\n".join(lines)
    lines.append(ctx.t("archive.best", count=record.best_count))
    lines += [_item(ctx, a, q) for a, q in record.best]
    lines.append(ctx.t("archive.picked", count=record.picked_count))
    lines += [_item(ctx, a, q) for a, q in record.picked]
    if record.talks:
        lines.append(ctx.t("archive.guest_talks", count=len(record.talks)))
        lines += [ctx.t("archive.talk_item", n=t.number, title=clip(t.title, 30), date=ctx.date(t.starts_at))
                  for t in record.talks[:LISTED]]
    lines.append(ctx.t("archive.talks", answers=record.answers, questions=record.questions_answered))
    lines.append(ctx.t("archive.points", points=record.points))
    return "\n".join(lines)


@router.command("archive", aliases=("档案",))
async def archive(ctx: Ctx) -> None:
    """A member's talent archive (`/档案` yours, `/档案 @x` theirs when public; owners see every one)."""
    targets = await ctx.mentioned_members()
    if len(targets) > 1 or ctx.args_without_mentions:
        raise CommandError("archive.usage")
    member = targets[0] if targets else ctx.member
    public = await is_public(ctx, member)
    mine = member.id == ctx.member.id
    if not public:
        if not (mine or ctx.is_owner):
            raise CommandError("archive.not_public", name=member.display_name)
        if not ctx.is_private:
            # Hidden from others: not read out in a group where everyone would see it.
            raise CommandError("archive.private_here")
    await ctx.reply_text(render(ctx, member, await archive_of(ctx, member), public))


async def _choose(ctx: Ctx, public: bool) -> None:
    if ctx.args.strip():
        raise CommandError("archive.usage")
    setting = await ctx.db.get(ArchiveSetting, ctx.member.id)
    if setting is None:
        ctx.db.add(ArchiveSetting(member_id=ctx.member.id, public=public, changed_at=ctx.now))
    else:
        setting.public, setting.changed_at = public, ctx.now
    await ctx.respond("archive.made_public" if public else "archive.made_hidden")


@router.subcommand("archive", "public", aliases=("公开",))
async def archive_public(ctx: Ctx) -> None:
    """Let other members read your archive."""
    await _choose(ctx, True)


@router.subcommand("archive", "hide", aliases=("隐藏",))
async def archive_hide(ctx: Ctx) -> None:
    """Only you and the owners read your archive (the default)."""
    await _choose(ctx, False)
