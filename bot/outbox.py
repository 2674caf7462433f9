"""Stored outgoing messages: per-chat pacing, splitting, retry with backoff, at most once."""
from __future__ import annotations

import logging
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, insert, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.adapters.base import Adapter, NotConnected, SendError
from bot.clock import Clock
from bot.config import PacingConfig
from bot.events import ChatRef, Outgoing
from models import Group, HeardBy
from models.base import table
from models.db import changed
from models.outbox import CANCELLED, FAILED, LOST, PENDING, SENDING, SENT, SHED, OutboxMessage

log = logging.getLogger("qunbot.outbox")
_INSERT = insert(table(OutboxMessage))


def split_text(text: str, limit: int, max_bytes: int | None = None) -> list[str]:
    """Split on line boundaries into chunks of at most `limit` characters (and `max_bytes` UTF-8 bytes); a line
    is cut only if it alone is longer."""
    def fits(chunk: str) -> bool:
        return len(chunk) <= limit and (max_bytes is None or len(chunk.encode()) <= max_bytes)

    def cut(line: str) -> int:
        """How many characters of `line` fit in one chunk."""
        n = min(len(line), limit)
        while max_bytes is not None and n > 1 and len(line[:n].encode()) > max_bytes:
            n = max(1, min(n - 1, n * max_bytes // len(line[:n].encode())))
        return n

    if fits(text):
        return [text]
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while not fits(line):
            if current:
                chunks.append(current)
                current = ""
            n = cut(line)
            chunks.append(line[:n])
            line = line[n:]
        candidate = f"{current}\n{line}" if current else line
        if not fits(candidate):
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current:
        chunks.append(current)
    return chunks or [text[:limit]]     # a text of nothing but line breaks


async def enqueue(db: AsyncSession, pacing: PacingConfig, chat: ChatRef, text: str, *, now: datetime,
                  mentions: Sequence[str] = (), kind: str = "say", path: str | None = None,
                  target: str | None = None, reply_to: dict | None = None, purpose: str | None = None,
                  cause: str | None = None, not_before: datetime | None = None, answering: bool = False) -> None:
    """Store a message (split if long) in the caller's transaction; it is sent after commit, by the process of the
    bot account it belongs to: `answering` a message this process heard (a reply, or a private word to its
    sender), this process's; else the group's account, or in private the account that heard from the user last.

    A plain INSERT (no unit-of-work bookkeeping), built once for the replies that run on a command's hot path; the
    account of other messages is found in the same statement.
    """
    chunks = split_text(text, pacing.max_chars, pacing.max_bytes) if kind == "say" else [text]
    rows = [dict(chat_key=chat.key, kind=kind, text=chunk, mentions=list(mentions) if i == 0 else [], path=path,
                 target=target, reply_to=reply_to, purpose=purpose, cause=cause, status=PENDING, attempts=0,
                 not_before=not_before or now, created_at=now)
            for i, chunk in enumerate(chunks)]
    account = _account(db, chat, answering)
    if account is None or isinstance(account, str):
        statement = _INSERT
        for row in rows:
            row["account"] = account
    else:
        statement = _INSERT.values(account=account)
    await db.execute(statement, rows[0] if len(rows) == 1 else rows)


def _account(db: AsyncSession, chat: ChatRef, answering: bool) -> Any:
    """The bot account a message to `chat` goes out through (a value, or the subquery finding it), falling back to
    the session's own (its process's: models.db.sessionmaker)."""
    own = db.info.get("account")
    if answering:
        return own
    if chat.room_id is not None:
        owner = select(Group.account).where(Group.room_id == chat.room_id)
    else:
        owner = select(HeardBy.account).where(HeardBy.user_id == chat.user_id)
    return func.coalesce(owner.scalar_subquery(), own) if own is not None else owner.scalar_subquery()


async def find_pending(db: AsyncSession, chat: ChatRef, purpose: str) -> list[OutboxMessage]:
    """The unsent rows of one chat stored for `purpose` (e.g. the welcome waiting for more joins), in order."""
    rows = await db.scalars(
        select(OutboxMessage).where(OutboxMessage.chat_key == chat.key, OutboxMessage.purpose == purpose,
                                    OutboxMessage.status == PENDING)
        .order_by(OutboxMessage.id)
    )
    return list(rows)


async def rewrite(db: AsyncSession, pacing: PacingConfig, row: OutboxMessage, text: str,
                  mentions: Sequence[str], *, not_before: datetime | None = None) -> bool:
    """Replace the text and mentions of a waiting message that is stored whole (e.g. a welcome taking one more
    name), and its send time when `not_before` is given; False, changing nothing, when the new text would need
    splitting or the row is being sent."""
    if len(split_text(text, pacing.max_chars, pacing.max_bytes)) != 1:
        return False
    values: dict[str, Any] = {"text": text, "mentions": list(mentions)}
    if not_before is not None:
        values["not_before"] = not_before
    return await changed(db, update(OutboxMessage).where(OutboxMessage.id == row.id, OutboxMessage.status == PENDING)
                         .values(**values).execution_options(synchronize_session=False)) == 1


async def withdraw(db: AsyncSession, rows: Sequence[OutboxMessage]) -> bool:
    """Cancel unsent rows (the parts of one message); False, changing nothing, when one is already being sent."""
    ids = [row.id for row in rows]
    still_pending = (select(func.count()).select_from(OutboxMessage)
                     .where(OutboxMessage.id.in_(ids), OutboxMessage.status == PENDING).scalar_subquery())
    return await changed(db, update(OutboxMessage).where(OutboxMessage.id.in_(ids), still_pending == len(ids))
                         .values(status=CANCELLED).execution_options(synchronize_session=False)) == len(ids)


class OutboxSender:
    """Hands stored rows to the adapter when their chat's pacing allows: the rows of its own bot account (and those
    stored before accounts), never another process's."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], adapter: Adapter, clock: Clock,
                 pacing: PacingConfig,
                 on_failed: Callable[[AsyncSession, OutboxMessage, datetime], Awaitable[None]] | None = None, *,
                 account: str | None = None) -> None:
        self.on_failed = on_failed      # told, in the same transaction, about a message given up for good
        # The rows this sender owns (None: every row, as for a bot that knows no accounts).
        self.mine: ColumnElement[bool] = true() if account is None else \
            or_(OutboxMessage.account.is_(None), OutboxMessage.account == account)
        self.sessions = sessions
        self.adapter = adapter
        self.clock = clock
        self.pacing = pacing
        self.interval = timedelta(seconds=pacing.min_interval_seconds)
        self._last_sent: dict[str, datetime] = {}
        # Send times per chat for the per-minute / per-hour caps (the newest `keep`, oldest first).
        self._windows = [(n, timedelta(seconds=s)) for n, s in ((pacing.per_minute, 60), (pacing.per_hour, 3600))
                         if n is not None]
        self._keep = max((n for n, _ in self._windows), default=0)
        self._recent: dict[str, deque[datetime]] = defaultdict(lambda: deque(maxlen=self._keep))

    async def recover(self) -> None:
        """Rows claimed but never confirmed were maybe sent: never resend them (at most once), say so."""
        async with self.sessions.begin() as db:
            # Only its own: another process's row in SENDING may be in its hands right now.
            stuck = (await db.scalars(select(OutboxMessage).where(OutboxMessage.status == SENDING, self.mine)
                                      .order_by(OutboxMessage.id))).all()
            for row in stuck:
                log.error("outbox row %d to %s was being sent when the bot stopped; not resending it", row.id,
                          row.chat_key)
                row.status = LOST
            for account, waiting in await db.execute(
                    select(OutboxMessage.account, func.count()).where(OutboxMessage.status == PENDING, ~self.mine)
                    .group_by(OutboxMessage.account).order_by(OutboxMessage.account)):
                log.info("%d outgoing messages wait for the bot account %s: its process sends them", waiting, account)
            last = await db.execute(
                select(OutboxMessage.chat_key, func.max(OutboxMessage.sent_at))
                .where(OutboxMessage.status == SENT, self.mine).group_by(OutboxMessage.chat_key)
            )
            self._last_sent.update({k: v for k, v in last if v is not None})
            if self._keep:
                since = self.clock.now() - max(w for _, w in self._windows)
                for key, sent_at in await db.execute(
                        select(OutboxMessage.chat_key, OutboxMessage.sent_at)
                        .where(OutboxMessage.status == SENT, self.mine, OutboxMessage.sent_at >= since)
                        .order_by(OutboxMessage.sent_at)):
                    if sent_at is not None:
                        self._recent[key].append(sent_at)

    def _sendable(self, *columns: Any) -> Select[Any]:
        """Its pending rows that may go next. A row waiting for a retry holds back the later rows of its chat, so
        the parts of a split message keep their order; a row merely scheduled for later (a welcome) does not."""
        retrying = (
            select(OutboxMessage.chat_key, func.min(OutboxMessage.id).label("first_id"))
            .where(OutboxMessage.status == PENDING, self.mine, OutboxMessage.attempts > 0)
            .group_by(OutboxMessage.chat_key).subquery()
        )
        return (
            select(*columns).outerjoin(retrying, retrying.c.chat_key == OutboxMessage.chat_key)
            .where(OutboxMessage.status == PENDING, self.mine,
                   or_(retrying.c.first_id.is_(None), OutboxMessage.id <= retrying.c.first_id))
        )

    async def _heads(self, db: AsyncSession) -> dict[str, datetime]:
        rows = await db.execute(
            self._sendable(OutboxMessage.chat_key, func.min(OutboxMessage.not_before))
            .group_by(OutboxMessage.chat_key)
        )
        return {key: self._due(key, earliest) for key, earliest in rows}

    def _due(self, chat_key: str, earliest: datetime) -> datetime:
        last = self._last_sent.get(chat_key)
        due = max(earliest, last + self.interval) if last else earliest
        recent = self._recent.get(chat_key)
        for count, window in self._windows:
            # At most `count` in any `window`: wait until the count-th latest send has left the window.
            if recent is not None and len(recent) >= count:
                due = max(due, recent[-count] + window)
        return due

    async def next_due(self) -> datetime | None:
        async with self.sessions() as db:
            heads = await self._heads(db)
        return min(heads.values(), default=None)

    async def pending(self) -> int:
        """How many of its messages wait to be sent (a stopping bot leaves them for the next start)."""
        async with self.sessions() as db:
            return await db.scalar(select(func.count()).select_from(OutboxMessage)
                                   .where(OutboxMessage.status == PENDING, self.mine)) or 0

    async def _shed(self, db: AsyncSession) -> None:
        """Keep at most pacing.max_queue of its pending messages per chat: the newest beyond it are dropped, loudly."""
        full = await db.execute(
            select(OutboxMessage.chat_key, func.count()).where(OutboxMessage.status == PENDING, self.mine)
            .group_by(OutboxMessage.chat_key).having(func.count() > self.pacing.max_queue)
        )
        for chat_key, pending in full.all():
            newest = (select(OutboxMessage.id).where(OutboxMessage.chat_key == chat_key,
                                                     OutboxMessage.status == PENDING, self.mine)
                      .order_by(OutboxMessage.id.desc()).limit(pending - self.pacing.max_queue))
            shed = (await db.scalars(newest)).all()
            await db.execute(update(OutboxMessage).where(OutboxMessage.id.in_(shed), OutboxMessage.status == PENDING)
                             .values(status=SHED).execution_options(synchronize_session=False))
            for row_id in shed:
                log.warning("outbox for %s is full (%d pending, bound %d): shed message %d", chat_key, pending,
                            self.pacing.max_queue, row_id)

    async def send_due(self, now: datetime) -> int:
        """Send at most one message per chat whose turn has come; returns how many were handed over."""
        async with self.sessions() as db:
            await self._shed(db)
            heads = await self._heads(db)
            due = [key for key, at in heads.items() if at <= now]
            claimed: list[OutboxMessage] = []
            for key in due:
                row = await db.scalar(
                    self._sendable(OutboxMessage)
                    .where(OutboxMessage.chat_key == key, OutboxMessage.not_before <= now)
                    .order_by(OutboxMessage.id).limit(1)
                )
                if row is None:
                    continue
                claimed_now = await changed(db, (
                    update(OutboxMessage).where(OutboxMessage.id == row.id, OutboxMessage.status == PENDING)
                    .values(status=SENDING, attempts=OutboxMessage.attempts + 1)
                    .execution_options(synchronize_session=False)))
                if claimed_now == 1:  # another process may have claimed it first
                    # Read it again: until the claim, a join could still merge into a waiting welcome.
                    await db.refresh(row)
                    claimed.append(row)
            await db.commit()
        for row in sorted(claimed, key=lambda r: r.id):
            await self._send(row, now)
        return len(claimed)

    async def _send(self, row: OutboxMessage, now: datetime) -> None:
        out = Outgoing(chat=ChatRef.from_key(row.chat_key), text=row.text, mention_ids=tuple(row.mentions or ()),
                       kind=row.kind, path=row.path, target=row.target, reply_to=row.reply_to)
        attempts = row.attempts          # already counted by the claim
        values: dict = {}
        went_out = True                  # counts for pacing and the per-minute / per-hour caps
        try:
            await self.adapter.send(out)
            values = {"status": SENT, "sent_at": now}
        except NotConnected as exc:
            log.info("send to %s waits for the platform connection (%s)", row.chat_key, exc)
            went_out = False
            values = {"status": PENDING, "attempts": attempts - 1, "error": str(exc)[:300],
                      "not_before": now + timedelta(seconds=self.pacing.retry_base_seconds)}
        except SendError as exc:
            if exc.transient and attempts < self.pacing.max_attempts:
                delay = self.pacing.retry_base_seconds * 2 ** (attempts - 1)
                log.warning("send to %s failed (%s); retry %d in %.0fs", row.chat_key, exc, attempts, delay)
                values = {"status": PENDING, "not_before": now + timedelta(seconds=delay), "error": str(exc)[:300]}
            else:
                log.error("send to %s failed for good after %d attempts: %s", row.chat_key, attempts, exc)
                values = {"status": FAILED, "error": str(exc)[:300]}
        except Exception as exc:
            log.exception("adapter raised while sending outbox row %d to %s", row.id, row.chat_key)
            values = {"status": FAILED, "error": f"{type(exc).__name__}: {exc}"[:300]}
        if went_out:
            self._last_sent[row.chat_key] = now
            if self._keep:
                self._recent[row.chat_key].append(now)
        async with self.sessions.begin() as db:
            await db.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(**values))
            if values["status"] == FAILED and self.on_failed is not None:
                row.error = values["error"]
                await self.on_failed(db, row, now)
