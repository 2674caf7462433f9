"""The knowledge base: /search over the community's questions, answers and the kept chat of the searcher's own
groups, and the similar past questions shown when someone asks."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bot import search
from bot.cleaning import clean
from bot.context import BaseCtx, Ctx
from bot.errors import CommandError
from bot.roster import groups_of, members_by_user
from bot.router import Router
from bot.text import clip, split_first
from models import Answer, ChatMessage, Group, Member, Question

router = Router()

SHOWN = 8               # results listed
FETCH = 3 * SHOWN       # ranked documents loaded at a time (some may be hidden)
ROUNDS = 3              # loads before giving up on filling the list
QUERY_LIMIT = 50
QUESTIONS_ONLY = ("问题", "questions")
SNIPPET = 40
SIMILAR = 3             # similar questions shown on /ask
SIMILAR_FLOOR = 0.6     # the share of a title's rarity (idf) a past question must hold to count as similar


@dataclass(frozen=True, slots=True)
class Found:
    """A document a search found that the member may see, ready to show."""

    kind: str
    at: datetime
    ref: str            # Q12 / A37; "" for chat
    text: str
    author_id: int | None = None            # members.id (questions, answers)
    sender_id: str | None = None            # user id (chat)
    room_id: str | None = None
    question: Question | None = None        # an answer's question; a question itself


def _snippet(text: str) -> str:
    return clip(" ".join(clean(text, multiline=False).split()), SNIPPET)


async def _load(ctx: BaseCtx, kinds: dict[int, str], hits: Sequence[search.Hit],
                rooms: set[str]) -> dict[tuple[int, int], Found]:
    """The hits the member may see, loaded from their own tables: hidden questions and answers (and answers of a
    hidden question) and chat gone or of other groups drop out."""
    by_kind: dict[str, list[int]] = {}
    for hit in hits:
        by_kind.setdefault(kinds[hit.scope_id], []).append(hit.doc_id)
    scope_of = {kind: scope_id for scope_id, kind in kinds.items() if kind != search.CHAT}
    found: dict[tuple[int, int], Found] = {}
    if ids := by_kind.get(search.QUESTION):
        for q in await ctx.db.scalars(select(Question).where(
                Question.id.in_(ids), Question.community_id == ctx.community.id, Question.hidden.is_(False))):
            found[(scope_of[search.QUESTION], q.id)] = Found(search.QUESTION, q.asked_at, f"Q{q.number}", q.title,
                                                             author_id=q.asker_id, question=q)
    if ids := by_kind.get(search.ANSWER):
        for a, q in await ctx.db.execute(select(Answer, Question).join(Question, Question.id == Answer.question_id)
                                         .where(Answer.id.in_(ids), Answer.community_id == ctx.community.id,
                                                Answer.hidden.is_(False), Question.hidden.is_(False))):
            found[(scope_of[search.ANSWER], a.id)] = Found(search.ANSWER, a.answered_at, f"A{a.number}", a.body,
                                                           author_id=a.author_id, question=q)
    if ids := by_kind.get(search.CHAT):
        room_scope = {hit.doc_id: hit.scope_id for hit in hits if kinds[hit.scope_id] == search.CHAT}
        for m in await ctx.db.scalars(select(ChatMessage).where(
                ChatMessage.id.in_(ids), ChatMessage.community_id == ctx.community.id, ChatMessage.room_id.in_(rooms))):
            found[(room_scope[m.id], m.id)] = Found(search.CHAT, m.sent_at, "", m.text, sender_id=m.sender_id,
                                                    room_id=m.room_id)
    return found


async def find(ctx: BaseCtx, scope_keys: dict[str, str], terms: list[str], rooms: set[str], *, limit: int,
               floor: float = 0.0, exclude: int | None = None) -> tuple[list[Found], bool]:
    """The best `limit` documents the member may see for `terms` in the scopes named (key -> kind), and whether
    there are more; only those holding at least `floor` of the query's rarity; question `exclude` (an id) left
    out as if it were not indexed."""
    known = await search.scopes(ctx.db, scope_keys)
    kinds = {scope_id: scope_keys[key] for scope_id, (key, _) in known.items()}
    docs = {scope_id: n for scope_id, (_, n) in known.items()}
    shown: list[Found] = []
    skip = next(((scope_id, exclude) for scope_id, kind in kinds.items() if kind == search.QUESTION), None) \
        if exclude is not None else None
    for round_ in range(ROUNDS):
        hits = await search.search(ctx.db, docs, terms, limit=FETCH + 1, offset=round_ * FETCH, exclude=skip)
        wanted = [h for h in hits[:FETCH] if h.coverage >= floor]
        visible = await _load(ctx, kinds, wanted, rooms)
        shown += [visible[(h.scope_id, h.doc_id)] for h in wanted if (h.scope_id, h.doc_id) in visible]
        if len(shown) > limit or len(hits) <= FETCH:
            return shown[:limit], len(shown) > limit
    return shown[:limit], True


async def _names(ctx: BaseCtx, found: Sequence[Found]) -> tuple[dict[int, str], dict[str, str], dict[str, str]]:
    """Authors by member id, senders by user id (the names the bot shows now), groups by room id."""
    member_ids = {f.author_id for f in found if f.author_id is not None}
    authors = {member_id: name for member_id, name in await ctx.db.execute(
        select(Member.id, Member.display_name).where(Member.id.in_(member_ids)))} if member_ids else {}
    senders = {user_id: m.display_name for user_id, m in (await members_by_user(
        ctx.db, ctx.community.id, {f.sender_id for f in found if f.sender_id})).items()}
    rooms = {f.room_id for f in found if f.room_id}
    groups = {room: name or room for room, name in await ctx.db.execute(
        select(Group.room_id, Group.name).where(Group.room_id.in_(rooms)))} if rooms else {}
    return authors, senders, groups


async def _best_answers(ctx: BaseCtx, questions: Sequence[Question]) -> dict[int, tuple[Answer, str]]:
    """Each question's best answer (not hidden) with its author's name, by question id."""
    ids = [q.best_answer_id for q in questions if q.best_answer_id]
    if not ids:
        return {}
    rows = await ctx.db.execute(select(Answer, Member.display_name).join(Member, Member.id == Answer.author_id)
                                .where(Answer.id.in_(ids), Answer.hidden.is_(False)))
    return {a.question_id: (a, name) for a, name in rows}


@router.command("search", aliases=("搜索",))
async def search_command(ctx: Ctx) -> None:
    """Search the community's questions and answers and the kept chat of your groups; `问题` first: questions
    only."""
    first, rest = split_first(ctx.args)
    questions_only = first.lower() in QUESTIONS_ONLY and bool(rest)
    query = rest if questions_only else ctx.args.strip()
    if not query:
        raise CommandError("search.usage")
    if len(query) > QUERY_LIMIT:
        raise CommandError("search.too_long", limit=QUERY_LIMIT)
    terms = await search.query_terms_async(query)
    if not terms:
        raise CommandError("search.no_words", query=clip(query))
    c = ctx.community.id
    keys = {f"{search.QUESTION}:{c}": search.QUESTION}
    rooms: set[str] = set()
    if not questions_only:
        keys[f"{search.ANSWER}:{c}"] = search.ANSWER
        rooms = {g.room_id for g in await groups_of(ctx.db, c, ctx.sender_id) if g.history}
        keys.update({f"{search.CHAT}:{room}": search.CHAT for room in rooms})
    found, more = await find(ctx, keys, terms, rooms, limit=SHOWN)
    prefix = "search.questions_" if questions_only else "search."
    if not found:
        raise CommandError(prefix + "none", query=clip(query))
    authors, senders, groups = await _names(ctx, found)
    best = await _best_answers(ctx, [f.question for f in found if f.kind == search.QUESTION and f.question])
    lines = [ctx.t(prefix + "found", query=clip(query))]
    for n, f in enumerate(found, 1):
        if f.kind == search.CHAT:
            assert f.room_id is not None and f.sender_id is not None
            lines.append(ctx.t("search.chat", n=n, group=groups.get(f.room_id, f.room_id),
                               author=senders.get(f.sender_id, f.sender_id), date=ctx.date(f.at),
                               body=_snippet(f.text)))
            continue
        author, date = authors.get(f.author_id or 0, "?"), ctx.date(f.at)
        assert f.question is not None
        if f.kind == search.ANSWER:
            lines.append(ctx.t("search.answer", n=n, ref=f.ref, question=f"Q{f.question.number}",
                               title=f.question.title, body=_snippet(f.text), author=author, date=date))
            continue
        lines.append(ctx.t("search.question", n=n, ref=f.ref, title=f.text, author=author, date=date))
        if f.question.id in best:
            answer, name = best[f.question.id]
            lines.append(ctx.t("search.best", ref=f"A{answer.number}", author=name, body=_snippet(answer.body)))
    if more:
        lines.append(ctx.t("search.more"))
    lines.append(ctx.t("search.hint"))
    await ctx.reply_text("\n".join(lines))


async def similar_questions(ctx: BaseCtx, question: Question) -> list[str]:
    """Lines showing up to SIMILAR past questions like `question` (by its title), each with its best answer;
    none when nothing is similar enough (a greeting, a vague title)."""
    terms = await search.query_terms_async(question.title)
    if not terms:
        return []
    keys = {f"{search.QUESTION}:{ctx.community.id}": search.QUESTION}
    found, _ = await find(ctx, keys, terms, set(), limit=SIMILAR, floor=SIMILAR_FLOOR, exclude=question.id)
    if not found:
        return []
    authors, _, _ = await _names(ctx, found)
    best = await _best_answers(ctx, [f.question for f in found if f.question])
    lines = [ctx.t("similar.title")]
    for f in found:
        assert f.question is not None
        lines.append(ctx.t("similar.line", ref=f.ref, title=f.text, asker=authors.get(f.author_id or 0, "?"),
                           date=ctx.date(f.at)))
        if f.question.id in best:
            answer, name = best[f.question.id]
            lines.append(ctx.t("search.best", ref=f"A{answer.number}", author=name, body=_snippet(answer.body)))
    return lines


async def index_question(ctx: BaseCtx, question: Question) -> None:
    """(Re)index a question after it is written: its title and background, cut once, in an executor."""
    terms = await search.question_terms_async(question.title, question.body)
    await search.index_doc(ctx.db, ctx.community.id, search.QUESTION, ctx.community.id, question.id, terms)


async def index_answer(ctx: BaseCtx, answer: Answer) -> None:
    """(Re)index an answer after it is written."""
    terms = await search.text_terms_async(answer.body)
    await search.index_doc(ctx.db, ctx.community.id, search.ANSWER, ctx.community.id, answer.id, terms)
