"""What the anti-spam looks for in a group's chat, before any database is touched: links outside the allowed
domains, mini-program and contact cards, QR codes that lead to another group or a contact, keywords, floods and
the same text posted in several groups. Counting floods and cross-posts keeps a little state in memory, per
process (what one process sees of a member is what it judges)."""
from __future__ import annotations

import asyncio
import io
import logging
import re
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar
from urllib.parse import urlsplit

from bot.config import SpamConfig
from bot.events import IncomingMessage, MessageKind
from bot.text import clip

log = logging.getLogger("qunbot.spam")
# http(s) links and www. ones, up to whitespace or CJK punctuation.
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'，。；！？、）)】」]+", re.I)
MAX_TRACKED = 10_000          # members and texts remembered before the stale ones are dropped
EVIDENCE_CHARS = 80
MAX_IMAGE_BYTES = 20 * 1024 * 1024     # larger images are not read
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Finding:
    """Why a message looks like spam: the rule it broke and what shows it (a link, the text, a count)."""

    rule: str                 # link, mini_program, contact_card, qr, keyword, flood, cross_post
    evidence: str
    domains: tuple[str, ...] = ()     # a link finding's hosts: an owner may allow them from chat


def host_of(url: str) -> str:
    raw = url if "://" in url else f"http://{url}"
    try:
        return (urlsplit(raw).hostname or "").lower()
    except ValueError:
        return ""


def domain_allowed(host: str, domains: list[str] | set[str]) -> bool:
    """Whether `host` is one of `domains` or under one of them."""
    return any(host == d or host.endswith("." + d) for d in domains)


def links_in(event: IncomingMessage) -> list[str]:
    urls = _URL.findall(event.text)
    if event.url:
        urls.insert(0, event.url)
    return urls


def read_qr_codes(data: bytes | None, path: str | None) -> list[str]:
    """The texts of the QR codes (and other barcodes) in an image; [] when it cannot be read."""
    import zxingcpp
    from PIL import Image

    if data is not None and len(data) > MAX_IMAGE_BYTES:
        return []
    try:
        with Image.open(io.BytesIO(data) if data is not None else path) as image:   # type: ignore[arg-type]
            image.load()
            return [result.text for result in zxingcpp.read_barcodes(image) if result.text]
    except (OSError, ValueError, Image.DecompressionBombError) as exc:     # not an image, or not a sane one
        log.info("an image could not be read for QR codes: %s", exc)
        return []


def evidence(text: str) -> str:
    """What a finding quotes: on one line, shortened visibly."""
    return clip(" ".join(text.split()), EVIDENCE_CHARS)


def _newest(entries: dict[K, V]) -> dict[K, V]:
    """What is left after dropping the stale entries; should a busy window still hold too many, only the newest
    half (by first sighting) stays, so pruning runs at most once per MAX_TRACKED / 2 new entries."""
    if len(entries) <= MAX_TRACKED // 2:
        return entries
    return dict(list(entries.items())[-(MAX_TRACKED // 2):])


class SpamWatch:
    """Judges each group message; remembers recent messages per member (floods) and recent texts (cross-posts)."""

    def __init__(self) -> None:
        self._recent: dict[tuple[str, str], deque[datetime]] = {}
        self._texts: dict[tuple[str, str], dict[str, datetime]] = {}

    async def inspect(self, event: IncomingMessage, community_id: str, cfg: SpamConfig,
                      now: datetime) -> Finding | None:
        """The first rule the message breaks, if any (floods and cross-posts count every message)."""
        flood = self._count(community_id, event.sender_id, cfg, now)
        cross = self._cross_post(community_id, event, cfg, now)
        return await self._content(event, cfg) or flood or cross

    async def _content(self, event: IncomingMessage, cfg: SpamConfig) -> Finding | None:
        if event.kind == MessageKind.MINI_PROGRAM and cfg.mini_programs:
            return Finding("mini_program", evidence(event.text or event.url or ""))
        if event.kind == MessageKind.CONTACT_CARD and cfg.contact_cards:
            return Finding("contact_card", evidence(event.text))
        lowered = event.text.lower()
        for word in cfg.keywords:
            if word and word.lower() in lowered:
                return Finding("keyword", evidence(event.text))
        if cfg.links and event.kind in (MessageKind.TEXT, MessageKind.LINK):
            urls = links_in(event)
            hosts = tuple(dict.fromkeys(h for h in map(host_of, urls)
                                        if h and not domain_allowed(h, cfg.allowed_domains)))
            if hosts:
                bad = next(u for u in urls if host_of(u) in hosts)
                return Finding("link", evidence(bad), hosts)
        if event.kind == MessageKind.IMAGE and cfg.qr_codes and (event.data is not None or event.path):
            loop = asyncio.get_running_loop()
            for text in await loop.run_in_executor(None, read_qr_codes, event.data, event.path):
                if any(text.startswith(own) for own in cfg.own_qr_codes):
                    continue
                if any(re.search(p, text, re.I) for p in cfg.ad_qr_patterns):
                    return Finding("qr", evidence(text))
        return None

    def _count(self, community_id: str, user_id: str, cfg: SpamConfig, now: datetime) -> Finding | None:
        window = timedelta(seconds=cfg.flood_seconds)
        if len(self._recent) > MAX_TRACKED:
            self._recent = _newest({k: v for k, v in self._recent.items() if v and now - v[-1] < window})
        hits = self._recent.setdefault((community_id, user_id), deque())
        hits.append(now)
        while hits and now - hits[0] >= window:
            hits.popleft()
        if len(hits) >= cfg.flood_messages:
            return Finding("flood", str(len(hits)))
        return None

    def _cross_post(self, community_id: str, event: IncomingMessage, cfg: SpamConfig,
                    now: datetime) -> Finding | None:
        text = "".join(event.text.split())
        if event.room_id is None or len(text) < cfg.cross_post_min_chars:
            return None
        window = timedelta(minutes=cfg.cross_post_minutes)
        if len(self._texts) > MAX_TRACKED:
            self._texts = _newest({k: v for k, v in self._texts.items() if any(now - t < window for t in v.values())})
        rooms = self._texts.setdefault((community_id, f"{event.sender_id}\0{text}"), {})
        rooms[event.room_id] = now
        recent = [room for room, at in rooms.items() if now - at < window]
        if len(recent) >= cfg.cross_post_groups:
            return Finding("cross_post", evidence(event.text))
        return None
