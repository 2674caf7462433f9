"""Members' text, cleaned once where it enters, so nothing they type can pass for the bot's own words.

clean() removes what a reader cannot see but a renderer obeys: control characters, bidi and other format
controls (right-to-left overrides, isolates, zero-width spaces and joiners, the byte order mark), lone surrogates,
noncharacters and the Hangul fillers that display as nothing. Two things that look like format controls are kept
because emoji need them: the zero-width joiner between two emoji (👨‍👩‍👧) and the tag characters of a flag
such as 🏴󠁧󠁢󠁳󠁣󠁴󠁿. Every kind of line break becomes "\n"; single-line text (names, link titles, file names) gets a
space instead. Text with nothing visible left is "" — it counts as empty.

Whether a command may span lines is the router's business (CommandSpec.multiline); where the bot shows a
member's multi-line text inside its own message, quoted() marks every continuation line as a quote.
"""
from __future__ import annotations

import re
import unicodedata

# Every format control (category Cf) of Unicode 15, controls (Cc) other than the line feed and the tab (line
# breaks and tabs are normalised first), surrogates, noncharacters, the combining grapheme joiner and the fillers
# (U+115F, U+1160, U+3164, U+FFA0) that are default-ignorable letters. tests/test_cleaning.py checks this class
# against the Unicode database of the running Python.
_FORMAT = ("\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064"
           "\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
           "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f")
_INVISIBLE = re.compile(f"[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f{_FORMAT}\ud800-\udfff\u034f\u115f\u1160"
                        "\u3164\uffa0\ufdd0-\ufdef\ufffe\uffff]")
_LINE_BREAK = re.compile("\r\n|[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_NEEDS_WORK = re.compile(f"{_INVISIBLE.pattern}|[\t\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
ZWJ = "\u200d"
_BLACK_FLAG = "\U0001f3f4"
_QUOTE = "> "


def _is_emoji(ch: str) -> bool:
    """Pictographs, symbols and their modifiers, as far as a joiner between two of them is concerned."""
    cp = ord(ch)
    return 0x1F000 <= cp <= 0x1FAFF or 0x2190 <= cp <= 0x2BFF or cp in (0x00A9, 0x00AE, 0x203C, 0x2049, 0x2122,
                                                                        0x2139, 0x3030, 0x303D, 0x3297, 0x3299)


def _is_tag(ch: str) -> bool:
    return 0xE0020 <= ord(ch) <= 0xE007F


def _strip(text: str) -> str:
    def keep_or_drop(m: re.Match[str]) -> str:
        ch, i = m.group(), m.start()
        before = text[i - 1] if i else ""
        if ch == ZWJ and (_is_emoji(before) or before == "\ufe0f") and _is_emoji(text[i + 1:i + 2] or "a"):
            return ch
        if _is_tag(ch) and before and (before == _BLACK_FLAG or _is_tag(before)):
            return ch
        return ""

    return _INVISIBLE.sub(keep_or_drop, text)


def is_visible(ch: str) -> bool:
    """A character that puts ink on the screen (not a space, mark, joiner or variation selector)."""
    if ch.isspace() or 0xFE00 <= ord(ch) <= 0xFE0F or ch == "\u2800":
        return False
    return unicodedata.category(ch) not in ("Mn", "Me", "Cf", "Cc", "Cs", "Zs", "Zl", "Zp")


def clean(text: str, *, multiline: bool = True) -> str:
    """`text` with nothing invisible that could re-order, hide or break lines ("" when nothing visible is left);
    multiline=False puts a space where a line break was."""
    if _NEEDS_WORK.search(text) is not None:
        text = _strip(_LINE_BREAK.sub("\n", text).replace("\t", " "))
    if not multiline and "\n" in text:
        text = " ".join(part.strip() for part in text.split("\n") if part.strip())
    for ch in text:
        if is_visible(ch):
            return text
    return ""


def quoted(text: str) -> str:
    """A member's multi-line text inside a bot message: every line after the first marked as a quote, so no line
    of it can pass for one of the bot's."""
    return text.replace("\n", "\n" + _QUOTE)
