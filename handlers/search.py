"""The knowledge base: /search over the community's questions, answers, published digests and the kept chat of the
searcher's own groups, and the similar past questions (and digest sections) shown when someone asks.

A published digest's documents are its discussion topics and the sections a moderator rewrote (what its questions
and answers say is indexed already, as themselves): each section is a document numbered digest id × SECTION_SPAN +
its section number, rendered when found, so what was hidden or deleted since is not shown."""
from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, literal, select
from sqlalchemy.orm import aliased

from bot import roster
from bot import search as search_index
from bot.cleaning import clean
from bot.context import BaseCtx, Ctx
from bot.errors import CommandError
from bot.router import Router
from bot.search import ANSWER, CHAT, DIGEST, QUESTION, Hit
from bot.text import clip, split_first
from handlers.digest_render import render
from models import Answer, ChatMessage, Digest, Group, Member, Question
from models.digests import PUBLISHED

router = Router()

SHOWN = 8               # results listed
FETCH = SHOWN + 4       # ranked documents loaded at a time (a few may be hidden; more are loaded if so)
ROUNDS = 5              # loads before giving up on filling the list
QUERY_LIMIT = 50
QUESTIONS_ONLY = ("问题", "questions")
SNIPPET = 40
SIMILAR = 3             # similar questions shown on /ask
SIMILAR_FLOOR = 0.6     # the share of a title's rarity (idf) a past question must hold to count as similar
SECTION_SPAN = 1000     # a digest section's document id: the digest's id × this + the section's number

# What a search found, loaded by id: statements built once (every search runs them), each document with its
# author's name as the bot shows it now.
_BEST, _BEST_AUTHOR = aliased(Answer, name="best"), aliased(Member, name="best_author")
_QUESTIONS = (select(Question.id, Question.number, Question.title, Question.asked_at, Member.display_name,
                     _BEST.number, _BEST_AUTHOR.display_name, _BEST.body)
              .join(Member, Member.id == Question.asker_id)
              .outerjoin(_BEST, and_(_BEST.id == Question.best_answer_id, _BEST.hidden.is_(False)))
              .outerjoin(_BEST_AUTHOR, _BEST_AUTHOR.id == _BEST.author_id)
              .where(Question.id.in_(bindparam("ids", expanding=True)), Question.hidden.is_(False)))
_ANSWERS = (select(Answer.id, Answer.number, Answer.body, Answer.answered_at, Member.display_name, Question.number,
                   Question.title)
            .join(Question, Question.id == Answer.question_id).join(Member, Member.id == Answer.author_id)
            .where(Answer.id.in_(bindparam("ids", expanding=True)), Answer.hidden.is_(False),
                   Question.hidden.is_(False)))
_CHAT = (select(ChatMessage.id, ChatMessage.room_id, ChatMessage.sent_at, ChatMessage.text, ChatMessage.sender_id,
                Member.display_name, Group.name)
         .join(Group, Group.room_id == ChatMessage.room_id)
         .outerjoin(Member, and_(Member.community_id == ChatMessage.community_id,
                                 Member.user_id == ChatMessage.sender_id))
         .where(ChatMessage.id.in_(bindparam("ids", expanding=True))))
# The chat scopes a member may search: those of their own groups that keep chat.
_OWN_CHAT = select(literal(f"{CHAT}:") + Group.room_id).where(roster.PRESENT_IN, Group.history.is_(True))


@dataclass(frozen=True, slots=True)
class Found:
    """A document a search found that the member may see, ready to show."""

    kind: str
    at: datetime
    ref: str                # Q12 / A37; a digest's issue number; "" for chat
    text: str               # a question's title, an answer's or a message's text
    author: str             # the name the bot shows now (a pseudonym after deleted data)
    group: str = ""         # chat: its group's name
    question: str = ""      # an answer's question (Q12)
    title: str = ""         # its title
    best: tuple[str, str, str] | None = None      # a question's best answer: (A37, author, text)


def _snippet(text: str) -> str:
    return clip(" ".join(clean(text, multiline=False).split()), SNIPPET)


async def _load(ctx: BaseCtx, kinds: dict[int, str], hits: Sequence[Hit],
                rooms: Collection[str]) -> dict[tuple[int, int], Found]:
    """The hits the member may see, loaded from their own tables with their authors: hidden questions and answers
    (and answers of a hidden question) and chat gone or of other groups drop out. By id alone (the scopes searched
    are the community's and the member's groups'): a filter on the community would lead SQLite to scan its index
    instead of looking the ids up."""
    by_kind: dict[str, dict[int, int]] = {}
    for hit in hits:
        by_kind.setdefault(kinds[hit.scope_id], {})[hit.doc_id] = hit.scope_id
    found: dict[tuple[int, int], Found] = {}
    if ids := by_kind.get(QUESTION):
        for q_id, number, title, at, asker, a_number, a_author, a_body in await ctx.db.execute(
                _QUESTIONS, {"ids": list(ids)}):
            found[(ids[q_id], q_id)] = Found(QUESTION, at, f"Q{number}", title, asker,
                                             best=None if a_number is None else (f"A{a_number}", a_author, a_body))
    if ids := by_kind.get(ANSWER):
        for a_id, number, body, at, author, q_number, title in await ctx.db.execute(_ANSWERS, {"ids": list(ids)}):
            found[(ids[a_id], a_id)] = Found(ANSWER, at, f"A{number}", body, author, question=f"Q{q_number}",
                                             title=title)
    if ids := by_kind.get(CHAT):
        for m_id, room_id, at, body, sender, name, group in await ctx.db.execute(_CHAT, {"ids": list(ids)}):
            if room_id in rooms:
                found[(ids[m_id], m_id)] = Found(CHAT, at, "", body, name or sender, group=group or room_id)
    if ids := by_kind.get(DIGEST):
        digests = await ctx.db.scalars(select(Digest).where(
            Digest.id.in_({doc_id // SECTION_SPAN for doc_id in ids}), Digest.status == PUBLISHED))
        for digest in digests:
            shown = dict(await render(ctx, digest, only={doc_id % SECTION_SPAN for doc_id in ids
                                                          if doc_id // SECTION_SPAN == digest.id}))
            for doc_id, scope_id in ids.items():
                digest_id, n = divmod(doc_id, SECTION_SPAN)
                if digest_id == digest.id and shown.get(n):
                    assert digest.published_at is not None
                    found[(scope_id, doc_id)] = Found(DIGEST, digest.published_at, str(digest.number),
                                                      shown[n][0].strip(), "")
    return found


async def find(ctx: BaseCtx, keys: list[str], terms: list[str], *, limit: int, chat_of: str | None = None,
               floor: float = 0.0, exclude: int | None = None) -> tuple[list[Found], bool]:
    """The best `limit` documents the member may see for `terms` in the scopes named (their keys; with `chat_of`,
    a user id, the kept chat of that member's own groups too), and whether there are more; only those holding at
    least `floor` of the query's rarity; question `exclude` (an id) left out as if it were not indexed."""
    query = await search_index.prepare(
        ctx.db, keys, terms,
        more=None if chat_of is None else (_OWN_CHAT, {"community_id": ctx.community.id, "user_id": chat_of}),
        exclude=None if exclude is None else (f"{QUESTION}:{ctx.community.id}", exclude))
    kinds = {scope_id: key.partition(":")[0] for scope_id, (key, _) in query.scopes.items()}
    rooms = {key.partition(":")[2] for key, _ in query.scopes.values() if key.startswith(f"{CHAT}:")}
    shown: list[Found] = []
    for round_ in range(ROUNDS):
        hits = await search_index.search(ctx.db, query, limit=FETCH + 1, offset=round_ * FETCH)
        wanted = [h for h in hits[:FETCH] if h.coverage >= floor]
        visible = await _load(ctx, kinds, wanted, rooms)
        shown += [visible[(h.scope_id, h.doc_id)] for h in wanted if (h.scope_id, h.doc_id) in visible]
        if len(shown) > limit or len(hits) <= FETCH:
            return shown[:limit], len(shown) > limit
    return shown[:limit], True


def _best_line(ctx: BaseCtx, found: Found) -> list[str]:
    if found.best is None:
        return []
    ref, author, body = found.best
    return [ctx.t("search.best", ref=ref, author=author, body=_snippet(body))]


@router.command("search", aliases=("搜索",))
async def search(ctx: Ctx) -> None:
    """Search the community's questions and answers and the kept chat of your groups; `问题` first: questions
    only."""
    first, rest = split_first(ctx.args)
    questions_only = first.lower() in QUESTIONS_ONLY and bool(rest)
    query = rest if questions_only else ctx.args.strip()
    if not query:
        raise CommandError("search.usage")
    if len(query) > QUERY_LIMIT:
        raise CommandError("search.too_long", limit=QUERY_LIMIT)
    terms = await search_index.query_terms_async(query)
    if not terms:
        raise CommandError("search.no_words", query=clip(query))
    c = ctx.community.id
    keys = [f"{QUESTION}:{c}"] if questions_only else [f"{QUESTION}:{c}", f"{ANSWER}:{c}", f"{DIGEST}:{c}"]
    found, more = await find(ctx, keys, terms, limit=SHOWN, chat_of=None if questions_only else ctx.sender_id)
    prefix = "search.questions_" if questions_only else "search."
    if not found:
        raise CommandError(prefix + "none", query=clip(query))
    lines = [ctx.t(prefix + "found", query=clip(query))]
    for n, f in enumerate(found, 1):
        date = ctx.date(f.at)
        if f.kind == CHAT:
            lines.append(ctx.t("search.chat", n=n, group=f.group, author=f.author, date=date,
                               body=_snippet(f.text)))
        elif f.kind == DIGEST:
            lines.append(ctx.t("search.digest", n=n, issue=f.ref, date=date, body=_snippet(f.text)))
        elif f.kind == ANSWER:
            lines.append(ctx.t("search.answer", n=n, ref=f.ref, question=f.question, title=f.title,
                               body=_snippet(f.text), author=f.author, date=date))
        else:
            lines += [ctx.t("search.question", n=n, ref=f.ref, title=f.text, author=f.author, date=date),
                      *_best_line(ctx, f)]
    if more:
        lines.append(ctx.t("search.more"))
    lines.append(ctx.t("search.hint"))
    await ctx.reply_text("\n".join(lines))


async def similar_questions(ctx: BaseCtx, question: Question) -> list[str]:
    """Lines showing up to SIMILAR past questions like `question` (by its title), each with its best answer;
    none when nothing is similar enough (a greeting, a vague title)."""
    terms = await search_index.query_terms_async(question.title)
    if not terms:
        return []
    keys = [f"{QUESTION}:{ctx.community.id}", f"{DIGEST}:{ctx.community.id}"]
    found, _ = await find(ctx, keys, terms, limit=SIMILAR, floor=SIMILAR_FLOOR, exclude=question.id)
    if not found:
        return []
    kinds = {f.kind for f in found}
    lines = [ctx.t("similar.title" if DIGEST not in kinds else "similar.title_digests" if kinds == {DIGEST}
                   else "similar.title_both")]
    for f in found:
        if f.kind == DIGEST:
            lines.append(ctx.t("similar.digest", issue=f.ref, date=ctx.date(f.at), body=_snippet(f.text)))
        else:
            lines += [ctx.t("similar.line", ref=f.ref, title=f.text, asker=f.author, date=ctx.date(f.at)),
                      *_best_line(ctx, f)]
    return lines


async def index_question(ctx: BaseCtx, question: Question) -> None:
    """(Re)index a question after it is written: its title and background, cut once, in an executor."""
    terms = await search_index.question_terms_async(question.title, question.body)
    await search_index.index_doc(ctx.db, ctx.community.id, QUESTION, ctx.community.id, question.id, terms)


async def index_answer(ctx: BaseCtx, answer: Answer) -> None:
    """(Re)index an answer after it is written."""
    terms = await search_index.text_terms_async(answer.body)
    await search_index.index_doc(ctx.db, ctx.community.id, ANSWER, ctx.community.id, answer.id, terms)


async def index_digest(ctx: BaseCtx, digest: Digest, sections: Sequence[tuple[int, list[str]]]) -> None:
    """Index a digest as it is published: its discussion topics and the sections a moderator rewrote, each as
    rendered (`sections`: render()'s (number, lines))."""
    for n, lines in sections:
        section = digest.sections[n - 1]
        if section["kind"] == "topic" or section["key"] in digest.rewritten:
            terms = await search_index.text_terms_async("\n".join(lines))
            await search_index.index_doc(ctx.db, ctx.community.id, DIGEST, ctx.community.id,
                                         digest.id * SECTION_SPAN + n, terms)
