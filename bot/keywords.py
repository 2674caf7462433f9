"""What a period's chat was about: its most frequent words, counted from the terms kept with each message.

jieba cuts every message once, as it is kept (bot.history); a digest only counts. A word counts once per message
(one member repeating a word in a message does not make it a topic), stopwords, single characters and numbers do
not count, and ties go to the word first reached in alphabetical order, so the same chat always gives the same list.
"""
from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models import ChatMessage

TOP = 20
# Chat's function words and fillers: frequent in every week, telling nothing about one.
STOPWORDS = frozenset("""
的 了 是 我 你 他 她 它 我们 你们 他们 大家 这 那 这个 那个 这些 那些 这样 那样
这么 那么 什么 怎么 怎么样 为什么 哪 哪个 哪里 吗 呢 吧 啊 呀 哦 嗯 哈 哈哈 哈哈哈
嘿嘿 呵呵 也 都 就 还 又 再 才 很 太 更 最 非常 比较 有点 一点 一下 一些 一个
一样 一直 和 与 及 或 或者 但 但是 而且 然后 因为 所以 如果 虽然 还是 就是 不是
没有 没 不 有 在 到 对 给 把 被 让 从 向 跟 用 说 看 想 要 会 能 可以 应该
觉得 知道 其实 确实 真的 感觉 现在 今天 明天 昨天 已经 可能 这种 那种 之前 之后 时候
一起 自己 谢谢 感谢 有没有 最近 好 好的 对的 是的 收到 可是 只是 还有 以及 这里 那里 上 下 里
中 个 们 嘛 哇 额 诶 捂脸 强 ok the and to of a in is
""".split())
_NUMBER = re.compile(r"\A[0-9.,%]+\Z")


def telling(word: str, stopwords: frozenset[str] = STOPWORDS) -> bool:
    """Whether a kept word can say what chat was about (not a stopword, a single character or a number)."""
    return len(word) > 1 and word not in stopwords and not _NUMBER.match(word)


def ranked(counts: Iterable[tuple[str, int]], n: int) -> list[tuple[str, int]]:
    """The `n` words counted most, with their counts; ties go to the word first in alphabetical order."""
    return heapq.nsmallest(n, counts, key=lambda item: (-item[1], item[0]))


def top_terms(kept_terms: Iterable[str], n: int = TOP, stopwords: frozenset[str] = STOPWORDS) -> list[tuple[str, int]]:
    """The `n` words in the most messages, with how many: `kept_terms` holds each message's terms as kept
    (space separated, lower-cased)."""
    counts: Counter[str] = Counter()
    for terms in kept_terms:
        counts.update(set(terms.split()))
    return ranked(((word, count) for word, count in counts.items() if telling(word, stopwords)), n)


async def period_keywords(db: AsyncSession, community_id: str, start: datetime, end: datetime, *,
                          room_id: str | None = None, n: int = TOP) -> list[tuple[str, int]]:
    """The words a community's (or one group's) kept chat in [start, end) was most about, with how many
    messages used each."""
    query = select(ChatMessage.terms).where(ChatMessage.community_id == community_id, ChatMessage.sent_at >= start,
                                            ChatMessage.sent_at < end)
    if room_id is not None:
        query = query.where(ChatMessage.room_id == room_id)
    return top_terms(await db.scalars(query), n)
