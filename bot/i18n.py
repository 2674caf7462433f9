"""Locale files (bot/locales/<locale>.yaml): every user-facing text, zh_CN first, en second."""
from __future__ import annotations

import string
from functools import cache
from pathlib import Path
from typing import Any

import yaml

LOCALE_DIR = Path(__file__).with_name("locales")
DEFAULT_LOCALE = "zh_CN"


def _flatten(node: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in node.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, full + "."))
        else:
            out[full] = str(value).rstrip("\n")
    return out


@cache
def catalog(locale: str) -> dict[str, str]:
    with (LOCALE_DIR / f"{locale}.yaml").open(encoding="utf-8") as fh:
        return _flatten(yaml.safe_load(fh) or {})


def placeholders(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def has(locale: str, key: str) -> bool:
    return key in catalog(locale)


def t(locale: str, key: str, **params: Any) -> str:
    """The text for `key` in `locale` (falling back to zh_CN), formatted with params."""
    texts = catalog(locale)
    template = texts.get(key)
    if template is None:
        template = catalog(DEFAULT_LOCALE).get(key)
    if template is None:
        raise KeyError(f"no locale text for {key!r}")
    return template.format_map(params) if params else template.replace("{{", "{").replace("}}", "}")
