"""Text helpers every capability uses: jieba loaded once, off the event loop; search terms and items; lengths as
members count them; echoing what a member typed, visibly shortened."""
from __future__ import annotations

import asyncio
import gc
import logging
import re
import sys
import threading
import unicodedata
from typing import Any

_lock = threading.Lock()
CUT_IN_PLACE = 32           # characters: shorter texts are cut on the event loop (jieba loaded)
_jieba = None
# A number a member types (an entry number, a page): ASCII digits only — int() would also read "²" or "٣", or
# refuse thousands of digits.
NUMBER = re.compile(r"\A[0-9]{1,7}\Z")
_ITEM_SPLIT = re.compile(r"[,，、;；/|\n]+|\s{2,}")
_WORD = re.compile(r"[\w\u4e00-\u9fff]", re.U)


def warm_up() -> Any:
    """Load jieba and its dictionary (about a second); safe to call from any thread, loads once."""
    global _jieba
    with _lock:
        if _jieba is None:
            # jieba reads its dictionary through pkg_resources when it can, whose import alone costs ~10 MB of
            # resident memory for nothing else qunbot uses; without it jieba opens the same files directly.
            hidden = "pkg_resources" not in sys.modules
            if hidden:
                sys.modules["pkg_resources"] = None  # type: ignore[assignment]
            try:
                import jieba
            finally:
                if hidden:
                    del sys.modules["pkg_resources"]

            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            # The dictionary is ~350k long-lived objects; keep them out of every later garbage collection.
            gc.freeze()
            _jieba = jieba
    return _jieba


def cut(text: str) -> list[str]:
    """Search tokens of `text`, lower-cased, punctuation dropped (blocking: call through `cut_async`)."""
    jieba = warm_up()
    return [w.lower() for w in jieba.cut_for_search(text) if w.strip() and _WORD.search(w)]


def words(texts: list[str]) -> list[str]:
    """Each text's words (jieba's precise mode, lower-cased, punctuation dropped), space separated: how chat is
    kept for search, keywords and digests. Blocking: run it in an executor."""
    lcut = warm_up().lcut
    return [" ".join(w.lower() for w in lcut(text) if not w.isspace() and _WORD.search(w)) for text in texts]


async def cut_async(text: str) -> list[str]:
    """cut() without blocking the event loop on a long text; a search word or a short title is cut in place (tens
    of microseconds, less than the trip to an executor thread and back)."""
    if len(text) <= CUT_IN_PLACE and _jieba is not None:
        return cut(text)
    return await asyncio.get_running_loop().run_in_executor(None, cut, text)


def items(value: str) -> list[str]:
    """'增长, 文案、SEO' -> ['增长', '文案', 'seo']: the comma-separated entries of a field."""
    return [i.strip().lower() for i in _ITEM_SPLIT.split(value) if i.strip()]


def visible_length(text: str) -> int:
    """Characters as a member counts them: combining marks, variation selectors and joiners don't count."""
    return sum(1 for ch in text
               if unicodedata.category(ch) not in ("Mn", "Me", "Cf") and not 0xFE00 <= ord(ch) <= 0xFE0F)


def too_long(text: str, limit: int) -> bool:
    """Members count what they see; columns count code points (combining marks, keycaps): both must fit."""
    return visible_length(text) > limit or len(text) > 2 * limit


def clip(text: str, limit: int = 20) -> str:
    """Echo what a member typed, shortened visibly ("…") so a quote is never mistaken for the whole."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def split_first(args: str) -> tuple[str, str]:
    """The first word of a command's arguments and the rest (line breaks in the rest kept)."""
    parts = args.split(None, 1)
    return (parts[0], parts[1].strip()) if len(parts) == 2 else (parts[0] if parts else "", "")
