"""Money as integer fen: parsing what a treasurer types ("¥1,000.50", "200元") and showing it back."""
from __future__ import annotations

import re

MAX_FEN = 100_000_000_00          # one hundred million yuan: anything larger is a typing mistake

# ASCII digits only ("٣" or "²" are not what a treasurer means to type).
_AMOUNT = re.compile(r"\A(?P<sign>[-−]?)\s*(?:[¥￥]\s*)?(?P<int>[0-9]{1,3}(?:[,，][0-9]{3})+|[0-9]+)"
                     r"(?:\.(?P<dec>[0-9]+))?\s*(?:元|块|rmb|cny)?\Z", re.I)
_MAX_DIGITS = len(str(MAX_FEN // 100))


class AmountError(ValueError):
    """Why an amount was refused: 'format', 'negative', 'zero', 'decimals' or 'too_large'."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def looks_like_amount(text: str) -> bool:
    """True when the token is meant as an amount (starts with a digit, a sign or a currency mark)."""
    return bool(re.match(r"[-−¥￥0-9]", text.strip()))


def parse_amount(text: str) -> int:
    """'¥1,000.50' -> 100050 fen; raises AmountError for letters, more than two decimals, <= 0 or huge."""
    m = _AMOUNT.match(text.strip())
    if m is None:
        raise AmountError("format")
    decimals = m.group("dec") or ""
    if len(decimals) > 2:
        raise AmountError("decimals")
    if m.group("sign"):
        raise AmountError("negative")
    whole = re.sub(r"[,，]", "", m.group("int")).lstrip("0")
    if len(whole) > _MAX_DIGITS:
        raise AmountError("too_large")      # and int() of thousands of digits would refuse to read it at all
    fen = int(whole or 0) * 100 + int(decimals.ljust(2, "0") or 0)
    if fen == 0:
        raise AmountError("zero")
    if fen > MAX_FEN:
        raise AmountError("too_large")
    return fen


def format_fen(fen: int) -> str:
    """100050 -> '¥1,000.50'; whole amounts keep two decimals so columns of amounts line up."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}¥{yuan:,}.{cents:02d}"
