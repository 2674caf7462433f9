"""Retention: the bot's own bookkeeping — handled event ids, outgoing messages done with, the run records of
announcement jobs — and the groups' kept chat are kept for the windows in config.yaml's `retention` block; a daily
job deletes what is older, so no table grows forever.

The tables are shared by every community and every bot process on the database, while the job runs once a day
per community: every deletion is "older than the window", so a second run that day (another community's, another
process's) finds next to nothing, at the price of an index probe per table. Rows go in batches, each its own short
transaction, after the job's run is recorded: a large backlog never holds SQLite's write lock for long, and on
PostgreSQL a batch skips rows another process is deleting instead of waiting for them.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from bot import search
from bot.config import RetentionConfig
from bot.context import JobCtx
from bot.router import Router
from models import ChatMessage, DigestOpening, JobCursor, JobRun, LlmUsage, OutboxMessage, ProcessedEvent, TopicSummary
from models.db import changed
from models.outbox import CANCELLED, FAILED, LOST, SENT, SHED

log = logging.getLogger("qunbot.retention")
router = Router()
BATCH = 1000                    # rows per transaction
DAILY = "30 4 * * *"            # in each community's time zone: a quiet hour
DONE = (SENT, FAILED, LOST, SHED, CANCELLED)     # never pending or sending


@dataclass(frozen=True)
class Pruned:
    events: int
    messages: int
    job_runs: int
    chat: int = 0
    summaries: int = 0


@router.job("prune_old_records", catch_up="latest", cron=lambda community: DAILY)
async def prune_old_records(job: JobCtx) -> None:
    """Daily: delete the bookkeeping older than config.yaml's retention windows (once the run is recorded)."""
    job.after_commit.append(partial(prune, job.sessions, job.config.retention, job.now))


async def prune(sessions: async_sessionmaker[AsyncSession], keep: RetentionConfig, now: datetime, *,
                batch: int = BATCH) -> Pruned:
    """Delete what the retention windows no longer keep; logs one line with the counts."""
    events_before = now - timedelta(days=keep.events_days)
    sent_before = now - timedelta(days=keep.sent_messages_days)
    runs_before = now - timedelta(days=keep.job_runs_days)
    # Whether a period ran is known from its job's cursor in the database (a run moves it in the run's own
    # transaction, and a period at or before it is never run again, whatever a lagging process's copy says): a
    # run record goes once its own job's cursor has passed it. A job no longer scheduled, or a community no longer
    # served, holds back nothing but its own records, which its cursor has passed too.
    cursor_passed = select(JobCursor.job).where(
        JobCursor.job == JobRun.job, JobCursor.community_id == JobRun.community_id,
        JobCursor.last_fire >= JobRun.period).exists()
    chat_before = now - timedelta(days=keep.chat_days)
    pruned = Pruned(
        events=await _delete(sessions, ProcessedEvent.event_id, batch, ProcessedEvent.handled_at < events_before),
        # A message's age is when it was last due (never before it was written), or when it went out: the index
        # on (status, not_before) makes the probe cheap.
        messages=await _delete(sessions, OutboxMessage.id, batch, OutboxMessage.status.in_(DONE),
                               OutboxMessage.not_before < sent_before,
                               or_(OutboxMessage.sent_at.is_(None), OutboxMessage.sent_at < sent_before)),
        job_runs=await _delete(sessions, JobRun.id, batch, JobRun.ran_at < runs_before, cursor_passed),
        chat=await _delete(sessions, ChatMessage.id, batch, ChatMessage.sent_at < chat_before,
                           first=search.forget_chat),
        # What an LLM made of that chat goes with it; the token counts are needed for the current week only.
        summaries=await _delete(sessions, TopicSummary.id, batch, TopicSummary.made_at < chat_before)
        + await _delete(sessions, DigestOpening.id, batch, DigestOpening.made_at < chat_before)
        + await _delete(sessions, LlmUsage.id, batch, LlmUsage.at < chat_before),
    )
    log.info("retention: deleted handled event ids %d (older than %d days), outgoing messages %d (%d days), "
             "job run records %d (%d days), chat messages %d (%d days)%s", pruned.events, keep.events_days,
             pruned.messages, keep.sent_messages_days, pruned.job_runs, keep.job_runs_days, pruned.chat,
             keep.chat_days, f", LLM summaries and usage {pruned.summaries}" if pruned.summaries else "")
    return pruned


async def _delete(sessions: async_sessionmaker[AsyncSession], key: InstrumentedAttribute, batch: int,
                  *where: ColumnElement[bool],
                  first: Callable[[AsyncSession, list[Any]], Awaitable[None]] | None = None) -> int:
    """Delete the rows matching `where`, `batch` at a time, each batch in its own transaction; how many went.
    `first` removes what refers to a batch's rows (their keys given), in its transaction."""
    total = 0
    chosen = select(key).where(*where).limit(batch).with_for_update(skip_locked=True)
    while True:
        async with sessions.begin() as db:
            if first is None:
                doomed: Any = chosen
            else:
                doomed = list(await db.scalars(chosen))
                await first(db, doomed)
            gone = await changed(db, delete(key.class_).where(key.in_(doomed))
                                 .execution_options(synchronize_session=False))
        total += gone
        if gone < batch:
            return total
