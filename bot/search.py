"""The knowledge base's index, in our own tables so it ranks the same on SQLite and PostgreSQL.

Every searchable document — a question (its title counts twice), an answer, a kept chat message — is indexed
once, when it is written: its jieba terms become postings under the document's scope (models.search), each with
the term's BM25 share in that document (term frequency against the document's length) precomputed as `weight`.
A search reads, for each query term and each scope the member may see, only the head of that term's postings (as
many as the search asks for, counting what it skips, best first and newest among equals: enough to rank a
one-word search exactly), so its cost does not grow with the number of documents; the documents found
that way are then scored exactly: the sum over the query terms they hold of weight × the term's rarity (BM25's
idf, from the term's document count, counted up to `DF_CAP`).

Who may see what is decided twice: a search reads only the scopes the member may see (their community's
questions and answers, the kept chat of their own groups), and what it finds is loaded from its own table, where
hidden questions and answers, and chat that is gone, drop out.

Another kind of document joins by writing postings: a scope key "<kind>:<owner>" (`scope_ids`), `index_doc` for
each document with its row id, and a loader in the handler that shows what a search found.
"""
from __future__ import annotations

import asyncio
import functools
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Select,
    TextClause,
    and_,
    bindparam,
    delete,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.keywords import STOPWORDS
from bot.text import cut, cut_async
from models.base import table
from models.db import insert_ignoring_conflicts
from models.search import SearchPosting, SearchScope

QUESTION, ANSWER, CHAT, DIGEST = "question", "answer", "chat", "digest"
K1, B = 1.2, 0.75
# A typical document's length in terms, per kind (BM25's average length, fixed so a weight never changes later).
TYPICAL_LENGTH = {QUESTION: 24, ANSWER: 40, CHAT: 8, DIGEST: 40}
TITLE_COUNT = 2             # a question's title terms count this many times
TERM_LIMIT = 32             # characters of a term (longer ones are not indexed)
MAX_QUERY_TERMS = 8
DF_CAP = 2000               # documents counted per term for its rarity
# Words that say nothing about a subject: greetings, how people ask, when; plus chat's fillers.
SEARCH_STOPWORDS = STOPWORDS | frozenset("""
你好 您好 大家好 早上好 晚上好 下午好 早上 上好 晚安 各位 老师 同学 朋友 请问 问题 问下 问问 有个 请教 求助 求问
如何 怎样 怎么做 怎么办 为啥 是否 有人 谁 一个 比较 一般 大概 多少 哪些 目前 方面 情况 事情 东西 关于 以及 还是
谢谢大家 学习 学到 分享 +1 mark 到底 究竟 具体 真正 能否 能不能 可不可以 需要 主要 怎么样 一般来说
周一 周二 周三 周四 周五 周六 周日 周末 星期一 星期二 星期三 星期四 星期五 星期六 星期天 星期日 上午 下午 中午
晚上 今晚 明晚 本周 下周 上周 这周 每周 今年 明年 去年 本月 下个月 上个月
""".split())
_POSTINGS = table(SearchPosting)         # written and read in bulk
_SCOPES = table(SearchScope)


def indexable(term: str) -> bool:
    return 2 <= len(term) <= TERM_LIMIT and term not in SEARCH_STOPWORDS


def _query_terms(words: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(t for t in words if indexable(t)))[:MAX_QUERY_TERMS]


def query_terms(text: str) -> list[str]:
    """The terms a search looks for (blocking: jieba; at most MAX_QUERY_TERMS, in the order typed)."""
    return _query_terms(cut(text))


async def query_terms_async(text: str) -> list[str]:
    """query_terms() cut without blocking the loop (a short query in place, see cut_async)."""
    return _query_terms(await cut_async(text))


def weights(kind: str, terms: Iterable[str]) -> dict[str, int]:
    """Each indexable term's BM25 share in a document of `kind` made of `terms` (repeats count), times 100."""
    counts = Counter(t for t in terms if indexable(t))
    length = sum(counts.values())
    norm = K1 * (1 - B + B * length / TYPICAL_LENGTH[kind])
    return {t: max(1, round(100 * tf * (K1 + 1) / (tf + norm))) for t, tf in counts.items()}


def question_terms(title: str, body: str | None) -> list[str]:
    """A question's terms (blocking: jieba): the title's TITLE_COUNT times, then the background's."""
    return cut(title) * TITLE_COUNT + (cut(body) if body else [])


async def question_terms_async(title: str, body: str | None) -> list[str]:
    return await asyncio.get_running_loop().run_in_executor(None, question_terms, title, body)


async def text_terms_async(text: str) -> list[str]:
    """The terms of an answer (or any text written once), cut in an executor."""
    return await asyncio.get_running_loop().run_in_executor(None, cut, text)


# ---- writing ------------------------------------------------------------------------------------------------

async def scope_ids(db: AsyncSession, community_id: str, kind: str, owners: Iterable[str]) -> dict[str, int]:
    """The scope id of each "<kind>:<owner>" (created when new; another process may create it at once)."""
    keys = {f"{kind}:{owner}": owner for owner in owners}
    if not keys:
        return {}
    query = select(SearchScope.key, SearchScope.id).where(SearchScope.key.in_(keys))
    found = {key: scope_id for key, scope_id in await db.execute(query)}
    if len(found) < len(keys):
        await db.execute(insert_ignoring_conflicts(db, SearchScope),
                         [dict(key=key, community_id=community_id, kind=kind, docs=0)
                          for key in sorted(keys) if key not in found])
        found = {key: scope_id for key, scope_id in await db.execute(query)}
    return {keys[key]: scope_id for key, scope_id in found.items()}


async def index_doc(db: AsyncSession, community_id: str, kind: str, owner: str, doc_id: int,
                    terms: Sequence[str]) -> None:
    """(Re)index one document: its postings replace any it had."""
    scope_id = (await scope_ids(db, community_id, kind, [owner]))[owner]
    had = await db.scalar(select(func.count()).select_from(_POSTINGS).where(
        _POSTINGS.c.scope_id == scope_id, _POSTINGS.c.doc_id == doc_id))
    if had:
        await db.execute(delete(_POSTINGS).where(_POSTINGS.c.scope_id == scope_id, _POSTINGS.c.doc_id == doc_id))
    rows = [dict(scope_id=scope_id, doc_id=doc_id, term=t, weight=w) for t, w in weights(kind, terms).items()]
    if rows:
        await db.execute(_POSTINGS.insert(), rows)
    if bool(rows) != bool(had):
        await db.execute(_SCOPES.update().where(_SCOPES.c.id == scope_id)
                         .values(docs=_SCOPES.c.docs + (1 if rows else -1)))


async def index_chat(db: AsyncSession, community_id: str, messages: Sequence[tuple[str, int, str]],
                     known: dict[str, int]) -> None:
    """Index kept chat messages, (room id, message id, terms as kept) each; `known` caches rooms' scope ids."""
    missing = {room for room, _, _ in messages if room not in known}
    known.update(await scope_ids(db, community_id, CHAT, missing))
    rows, docs = [], Counter[int]()
    for room, doc_id, kept in messages:
        scope_id = known[room]
        if found := weights(CHAT, kept.split()):
            docs[scope_id] += 1
            rows += [dict(scope_id=scope_id, doc_id=doc_id, term=t, weight=w) for t, w in found.items()]
    if rows:
        await db.execute(_POSTINGS.insert(), rows)
        await _add_docs(db, docs)


async def _add_docs(db: AsyncSession, docs: Counter[int]) -> None:
    await db.execute(_SCOPES.update().where(_SCOPES.c.id == bindparam("sid"))
                     .values(docs=_SCOPES.c.docs + bindparam("n")),
                     [dict(sid=scope_id, n=n) for scope_id, n in sorted(docs.items())])


async def forget_chat(db: AsyncSession, message_ids: Select[Any] | Sequence[int]) -> None:
    """Drop the postings of chat messages about to be deleted (`message_ids`: their ids, or a query of them)."""
    chat_scopes = select(SearchScope.id).where(SearchScope.kind == CHAT)
    where = and_(_POSTINGS.c.scope_id.in_(chat_scopes), _POSTINGS.c.doc_id.in_(message_ids))
    gone = Counter[int]({scope_id: -n for scope_id, n in await db.execute(
        select(_POSTINGS.c.scope_id, func.count(func.distinct(_POSTINGS.c.doc_id))).where(where)
        .group_by(_POSTINGS.c.scope_id))})
    if gone:
        await db.execute(delete(_POSTINGS).where(where))
        await _add_docs(db, gone)


def index_stored(conn: Connection) -> None:
    """Fill an empty index with everything stored — questions, answers (cut by jieba now) and kept chat (its kept
    words) — in bulk, on a synchronous connection: the upgrade that adds the index, and the benchmark."""
    cache: dict[tuple[str, ...], dict[str, int]] = {}

    def weighed(kind: str, terms: Callable[..., list[str]], *texts: str) -> dict[str, int]:
        if (kind, *texts) not in cache:        # a text met again (the same chat message) is weighed once
            cache[(kind, *texts)] = weights(kind, terms(*texts))
        return cache[(kind, *texts)]

    docs: list[tuple[str, str, str, int, dict[str, int]]] = []      # (community, kind, owner, doc id, weights)
    for doc_id, community_id, title, body in conn.execute(text(
            "SELECT id, community_id, title, body FROM questions ORDER BY id")):
        docs.append((community_id, QUESTION, community_id, doc_id,
                     weighed(QUESTION, question_terms, title, body)))
    for doc_id, community_id, body in conn.execute(text("SELECT id, community_id, body FROM answers ORDER BY id")):
        docs.append((community_id, ANSWER, community_id, doc_id, weighed(ANSWER, cut, body)))
    for doc_id, community_id, room_id, kept in conn.execute(text(
            "SELECT id, community_id, room_id, terms FROM chat_messages WHERE terms <> '' ORDER BY id")):
        docs.append((community_id, CHAT, room_id, doc_id, weighed(CHAT, str.split, kept)))
    counts = Counter((community_id, kind, owner) for community_id, kind, owner, _, found in docs if found)
    ids: dict[tuple[str, str], int] = {}
    for (community_id, kind, owner), n in sorted(counts.items()):
        conn.execute(_SCOPES.insert().values(key=f"{kind}:{owner}", community_id=community_id, kind=kind, docs=n))
        ids[(kind, owner)] = conn.execute(select(_SCOPES.c.id).where(_SCOPES.c.key == f"{kind}:{owner}")).scalar_one()
    rows = [dict(scope_id=ids[(kind, owner)], doc_id=doc_id, term=term, weight=weight)
            for _, kind, owner, doc_id, found in docs for term, weight in found.items()]
    for i in range(0, len(rows), 10_000):
        conn.execute(_POSTINGS.insert(), rows[i:i + 10_000])


# ---- reading ------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Hit:
    scope_id: int
    doc_id: int
    score: int
    coverage: float         # the share of the query's rarity (idf) this document holds


@dataclass(frozen=True)
class Query:
    """A search as the index sees it: the scopes it reads that exist (id -> key, documents), the terms, how many
    documents hold each (up to DF_CAP), and the document searched as if it were not indexed (scope id, doc id)."""

    scopes: dict[int, tuple[str, int]]
    terms: tuple[str, ...]
    dfs: tuple[int, ...]
    exclude: tuple[int, int] | None


@functools.lru_cache(maxsize=64)
def _prepare_statement(n: int, more: Select[str] | None, exclude: bool) -> Select[Any]:
    """The scopes named and their document counts, with each term's document count beside them (the same on
    every row): one statement, built once for each shape."""
    keys: ColumnElement[bool] = _SCOPES.c.key.in_(bindparam("keys", expanding=True))
    if more is not None:
        keys = or_(keys, _SCOPES.c.key.in_(more))
    held: list[ColumnElement[bool]] = [_POSTINGS.c.scope_id.in_(select(_SCOPES.c.id).where(keys))]
    if exclude:
        held.append(~and_(_POSTINGS.c.scope_id == select(_SCOPES.c.id).where(
            _SCOPES.c.key == bindparam("exclude_key")).scalar_subquery(),
            _POSTINGS.c.doc_id == bindparam("exclude_doc")))

    def df(i: int) -> Any:
        capped = (select(literal(1).label("x")).select_from(_POSTINGS)
                  .where(*held, _POSTINGS.c.term == bindparam(f"t{i}")).limit(DF_CAP).subquery(f"d{i}"))
        return select(func.count()).select_from(capped).scalar_subquery().label(f"df{i}")

    return select(_SCOPES.c.id, _SCOPES.c.key, _SCOPES.c.docs, *(df(i) for i in range(n))).where(keys)


async def prepare(db: AsyncSession, keys: Iterable[str], terms: Sequence[str], *,
                  more: tuple[Select[str], dict[str, Any]] | None = None,
                  exclude: tuple[str, int] | None = None) -> Query:
    """What a search of `terms` over the scopes `keys` (and those `more` selects: a query of keys, built once, and
    its parameters) reads, in one statement; `exclude`: a document (scope key, id) left out as if not indexed."""
    params: dict[str, Any] = {"keys": list(keys), **{f"t{i}": t for i, t in enumerate(terms)}}
    if more is not None:
        params.update(more[1])
    if exclude is not None:
        params.update(exclude_key=exclude[0], exclude_doc=exclude[1])
    rows = (await db.execute(_prepare_statement(len(terms), None if more is None else more[0], exclude is not None),
                             params)).all()
    found = {row[0]: (row[1], row[2]) for row in rows}
    skip = next(((scope_id, exclude[1]) for scope_id, (key, _) in found.items() if key == exclude[0]), None) \
        if exclude is not None else None
    return Query(found, tuple(terms), tuple(int(df) for df in rows[0][3:]) if rows else (0,) * len(terms), skip)


@functools.lru_cache(maxsize=512)
def _text(sql: str, integers: tuple[str, ...] = ()) -> TextClause:
    """One of the search's statements, parsed once however often it runs; `integers`: its integer parameters."""
    statement = text(sql)
    return statement.bindparams(*(bindparam(name, type_=Integer) for name in integers)) if integers else statement


async def search(db: AsyncSession, query: Query, *, limit: int, offset: int = 0) -> list[Hit]:
    """The best documents for the query, best first.

    Written as SQL text: the terms and their rarities are bound; the other numbers (scope ids, limits) are ours
    and inlined, and each text is parsed once (_text), which keeps building the statement cheap, as the search
    itself is."""
    scope_docs = {scope_id: docs for scope_id, (_, docs) in query.scopes.items()}
    terms, dfs, exclude = query.terms, query.dfs, query.exclude
    if not terms or not scope_docs:
        return []
    binds = {f"t{i}": t for i, t in enumerate(terms)}

    def others(p: str = "") -> str:
        return "" if exclude is None else \
            f" AND NOT ({p}scope_id = {int(exclude[0])} AND {p}doc_id = {int(exclude[1])})"

    n = max(sum(scope_docs.values()) - (exclude is not None), *dfs, 1)
    rarity = [max(1, round(100 * math.log(1 + (n - df + 0.5) / (df + 0.5)))) for df in dfs]
    # A term no other document holds finds nothing, but counts in what a document would need to hold all.
    total = sum(rarity)
    held = [i for i, df in enumerate(dfs) if df]
    if not held:
        return []
    head = int(offset) + int(limit)
    heads = " UNION ".join(
        f"SELECT scope_id, doc_id FROM (SELECT scope_id, doc_id FROM search_postings WHERE scope_id = {int(s)} "
        f"AND term = :t{i} ORDER BY weight DESC, doc_id DESC LIMIT {head}) AS h{s}_{i}"
        for s in sorted(scope_docs) for i in held)
    idf = "CASE p.term " + " ".join(f"WHEN :t{i} THEN :r{i}" for i in held) + " ELSE 0 END"
    rows = await db.execute(_text(
        f"WITH found AS ({heads}) "
        f"SELECT p.scope_id, p.doc_id, SUM({idf} * p.weight) AS score, SUM({idf}) AS held "
        f"FROM found JOIN search_postings AS p ON p.scope_id = found.scope_id AND p.doc_id = found.doc_id "
        f"WHERE p.term IN ({', '.join(f':t{i}' for i in held)}){others('p.')} "
        f"GROUP BY p.scope_id, p.doc_id ORDER BY score DESC, p.doc_id DESC, p.scope_id "
        f"LIMIT {int(limit)} OFFSET {int(offset)}", tuple(f"r{i}" for i in held)),
        binds | {f"r{i}": rarity[i] for i in held})
    return [Hit(scope_id, doc_id, int(sc), int(h) / total) for scope_id, doc_id, sc, h in rows]
