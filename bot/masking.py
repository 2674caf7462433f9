"""What the bot sends to an LLM endpoint says no one's name and no way to reach anyone: members are placeholders
([P1], [P2]...) the answer keeps and the bot turns back into names, and phone numbers, e-mail addresses and WeChat
ids are masked for good."""
from __future__ import annotations

import re
from collections.abc import Mapping

PHONE, EMAIL, WECHAT = "[PHONE]", "[EMAIL]", "[WECHAT]"
PLACEHOLDER = re.compile(r"\[P([0-9]{1,4})\]")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_WXID = re.compile(r"(?<![A-Za-z0-9_])wxid_[A-Za-z0-9_-]+", re.I)
# "微信 abc_123", "vx：abc123", "WeChat ID: abc123": a WeChat id is 6-20 letters, digits, - or _, from a letter.
_WECHAT = re.compile(r"(微信号?|威信|薇信|v信|vx|wx|weixin|wechat(?:\s*id)?)(\s*(?:号|[:：是为])?\s*)"
                     r"([A-Za-z][-_A-Za-z0-9]{5,19})(?![-_A-Za-z0-9])", re.I)
# Mainland mobile and landline numbers and anything else that reads like one: 7+ digits, maybe grouped.
_PHONE = re.compile(r"(?<![0-9])\+?[0-9](?:[- ]?[0-9]){6,}(?![0-9])")


def mask_contacts(text: str) -> str:
    """`text` with e-mail addresses, WeChat ids and phone numbers masked."""
    text = _EMAIL.sub(EMAIL, text)
    text = _WXID.sub(WECHAT, text)
    text = _WECHAT.sub(lambda m: f"{m.group(1)}{m.group(2)}{WECHAT}", text)
    return _PHONE.sub(PHONE, text)


class Pseudonyms:
    """Placeholders for people, kept stable across the requests of one topic: `people` maps each placeholder to a
    user id; `names` maps each display name the text may contain to its user id."""

    def __init__(self, names: Mapping[str, str], people: Mapping[str, str] | None = None) -> None:
        self.people: dict[str, str] = dict(people or {})
        self._of = {user: p for p, user in self.people.items()}
        # Longest first, so 张三丰 is not read as 张三 + 丰; a one-character name would mask ordinary words.
        known = sorted((n for n in names if len(n) >= 2), key=len, reverse=True)
        self._names = dict(names)
        self._pattern = re.compile("|".join(
            rf"(?<![A-Za-z0-9]){re.escape(n)}(?![A-Za-z0-9])" if n.isascii() else re.escape(n) for n in known)) \
            if known else None

    def of(self, user_id: str) -> str:
        """The placeholder of a person, made on first use."""
        if user_id not in self._of:
            placeholder = f"[P{len(self.people) + 1}]"
            self.people[placeholder] = user_id
            self._of[user_id] = placeholder
        return self._of[user_id]

    def redact(self, text: str) -> str:
        """`text` with contacts masked and every known name replaced by its person's placeholder."""
        text = mask_contacts(text)
        if self._pattern is not None:
            text = self._pattern.sub(lambda m: self.of(self._names[m.group(0)]), text)
        return text

    def unknown(self, text: str) -> set[str]:
        """Placeholders in `text` that stand for no one (the model made them up)."""
        return {m.group(0) for m in PLACEHOLDER.finditer(text)} - set(self.people)


def restore(text: str, people: Mapping[str, str], names: Mapping[str, str]) -> str | None:
    """`text` with each placeholder replaced by the current name of its person (`names`: user id -> name); None when
    one of them may no longer be named (deleted their data, or unknown)."""
    missing = False

    def name(m: re.Match[str]) -> str:
        nonlocal missing
        user = people.get(m.group(0))
        if user is None or user not in names:
            missing = True
            return m.group(0)
        return names[user]

    restored = PLACEHOLDER.sub(name, text)
    return None if missing else restored
