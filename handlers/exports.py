"""Owners' exports (`/导出` in private chat, `qunbot export` on the server): the member directory in a members' view
(without 姓名 and 公司) and the owner's full copy, as CSV and .xlsx; the fund ledger as CSV; and a book of the
published digests and best answers, one chapter per week with its authors. Everything is read in batches and
written as it is read (.xlsx in openpyxl's write-only mode), so an export of any size never sits whole in memory;
the files are readable by the bot's user only."""
from __future__ import annotations

import asyncio
import csv
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from bot.context import BaseCtx, Ctx
from bot.errors import CommandError
from bot.events import Capability
from bot.roles import Role
from bot.router import Router
from handlers import tags
from handlers.digest import document
from models import Answer, Digest, DigestPick, LedgerAccount, LedgerEntry, Member, Profile, Question
from models.digests import PUBLISHED
from models.ledger import FEN
from models.profile import PROFILE_FIELDS

router = Router()
BATCH = 500                    # rows read and written at a time
PUBLIC_FIELDS = tuple(f for f in PROFILE_FIELDS if f not in ("real_name", "company"))
# A cell starting with one of these is a formula to Excel (and to openpyxl, which would store it as one): members'
# text gets a leading apostrophe, so "=HYPERLINK(...)" in a profile stays text in the owner's spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _as_text(value: Any) -> Any:
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def _private_file(path: Path, mode: str = "w") -> IO[Any]:
    """A new file only the bot's user may read (0600), whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, mode, encoding="utf-8", newline="")


class Table:
    """One table written to CSV and, when asked, .xlsx, a batch at a time (in a worker thread: the event loop
    stays free while a large export is written)."""

    def __init__(self, directory: Path, name: str, header: list[str], *, xlsx: bool) -> None:
        from openpyxl import Workbook

        self.paths = [directory / f"{name}.csv"]
        self._csv_file = _private_file(self.paths[0])
        self._csv_file.write("\ufeff")               # Excel opens UTF-8 CSV as UTF-8 only with a BOM
        self._csv = csv.writer(self._csv_file)
        self._book: Any = None
        if xlsx:
            self.paths.append(directory / f"{name}.xlsx")
            self._book = Workbook(write_only=True)
            self._sheet = self._book.create_sheet(name)
        self.rows = 0                                # data rows written
        self._append([header])

    def _append(self, rows: list[list[Any]]) -> None:
        rows = [[_as_text(v) for v in row] for row in rows]
        self._csv.writerows(rows)
        if self._book is not None:
            for row in rows:
                self._sheet.append(row)

    def _write(self, rows: list[list[Any]]) -> None:
        self._append(rows)
        self.rows += len(rows)

    async def write(self, rows: list[list[Any]]) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._write, rows)

    def _close(self) -> None:
        self._csv_file.close()
        if self._book is not None:
            # Saved over a file created 0600 first, so it is never readable by others, not even for a moment.
            _private_file(self.paths[1]).close()
            self._book.save(self.paths[1])
            os.chmod(self.paths[1], 0o600)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._close)


@dataclass
class Export:
    directory: Path
    files: list[Path] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


async def _has_anything(ctx: BaseCtx) -> bool:
    community = ctx.community.id
    checks = (select(Profile.member_id).where(Profile.community_id == community),
              select(LedgerEntry.id).where(LedgerEntry.community_id == community, LedgerEntry.unit == FEN),
              select(Digest.id).where(Digest.community_id == community, Digest.status == PUBLISHED),
              select(Question.id).where(Question.community_id == community, Question.best_answer_id.is_not(None)))
    for check in checks:
        if await ctx.db.scalar(check.limit(1)) is not None:
            return True
    return False


async def _batches(ctx: BaseCtx, query: Any, key: Any, value: Callable[[Any], Any]) -> Any:
    """The query's rows in batches of BATCH, by ascending `key` (keyset paging: nothing is held but one batch)."""
    last = None
    while True:
        page = query if last is None else query.where(key > last)
        rows = list((await ctx.db.execute(page.order_by(key).limit(BATCH))).all())
        if not rows:
            return
        yield rows
        last = value(rows[-1])


async def _directory(ctx: BaseCtx, directory: Path, export: Export) -> None:
    label = ctx.t
    view_fields = [label(f"field.{f}") for f in PUBLIC_FIELDS]
    full_fields = [label(f"field.{f}") for f in PROFILE_FIELDS]
    common = [label("export.col_tags"), label("export.col_joined")]
    view = Table(directory, "members", [label("export.col_name"), *view_fields, *common], xlsx=True)
    full = Table(directory, "members-full", [label("export.col_name"), label("export.col_user"), *full_fields,
                                             *common], xlsx=True)
    query = (select(Member, Profile).join(Profile, Profile.member_id == Member.id)
             .where(Member.community_id == ctx.community.id, Member.deleted_at.is_(None)))
    async for rows in _batches(ctx, query, Member.id, lambda row: row[0].id):
        tagged = await tags.tags_of(ctx, [m.id for m, _ in rows])
        view_rows, full_rows = [], []
        for member, profile in rows:
            joined = ctx.date(member.joined_at or member.first_seen_at)
            extra = [" ".join(f"#{t}" for t in tagged.get(member.id, [])), joined]
            view_rows.append([member.display_name, *(getattr(profile, f) or "" for f in PUBLIC_FIELDS), *extra])
            full_rows.append([member.display_name, member.user_id, *(getattr(profile, f) or "" for f in PROFILE_FIELDS),
                              *extra])
        await view.write(view_rows)
        await full.write(full_rows)
    for table in (view, full):
        await table.close()
        export.files += table.paths
    export.counts["members"] = view.rows


async def _ledger(ctx: BaseCtx, directory: Path, export: Export) -> None:
    t = ctx.t
    ledger = Table(directory, "ledger", [t("export.col_number"), t("export.col_time"), t("export.col_kind"),
                                         t("export.col_amount"), t("export.col_from"), t("export.col_to"),
                                         t("export.col_member"), t("export.col_actor"), t("export.col_reason"),
                                         t("export.col_cause"), t("export.col_reverses"),
                                         t("export.col_reversed_by")], xlsx=False)
    debit, credit = aliased(LedgerAccount), aliased(LedgerAccount)
    query = (select(LedgerEntry, debit.key, credit.key).join(debit, debit.id == LedgerEntry.debit_id)
             .join(credit, credit.id == LedgerEntry.credit_id)
             .where(LedgerEntry.community_id == ctx.community.id, LedgerEntry.unit == FEN))
    async for rows in _batches(ctx, query, LedgerEntry.number, lambda row: row[0].number):
        entries = [e for e, _, _ in rows]
        people = {e.member_id for e in entries} | {e.actor_id for e in entries}
        names = dict((await ctx.db.execute(select(Member.id, Member.display_name).where(Member.id.in_(people)))).all())
        ids = [e.id for e in entries]
        numbers = dict((await ctx.db.execute(select(LedgerEntry.id, LedgerEntry.number).where(
            LedgerEntry.id.in_([e.reverses_id for e in entries if e.reverses_id])))).all())
        reversed_by = dict((await ctx.db.execute(select(LedgerEntry.reverses_id, LedgerEntry.number).where(
            LedgerEntry.reverses_id.in_(ids)))).all())
        await ledger.write([[
            e.number, e.created_at.astimezone(ctx.tz).isoformat(timespec="seconds"), t(f"fund.kind.{e.kind}"),
            f"{e.amount / 100:.2f}", frm, to, names.get(e.member_id, ""), names.get(e.actor_id, ""), e.reason or "",
            e.cause, numbers.get(e.reverses_id, ""), reversed_by.get(e.id, ""),
        ] for e, frm, to in rows])
    await ledger.close()
    export.files += ledger.paths
    export.counts["ledger"] = ledger.rows


async def _book(ctx: BaseCtx, directory: Path, export: Export) -> None:
    community = ctx.community.id
    published = (Digest.community_id == community, Digest.status == PUBLISHED)
    best = (Question.community_id == community, Question.best_answer_id.is_not(None), Question.hidden.is_(False))
    bounds = [b for b in (
        *(await ctx.db.execute(select(func.min(Digest.published_at), func.max(Digest.published_at))
                               .where(*published))).one(),
        *(await ctx.db.execute(select(func.min(Question.best_marked_at), func.max(Question.best_marked_at))
                               .where(*best))).one()) if b is not None]
    path = directory / "book.md"
    chapters = 0
    with _private_file(path) as out:
        out.write(ctx.t("export.book_title", community=ctx.community.name) + "\n")
        week = ctx.week_start(min(bounds)) if bounds else None
        while week is not None and week <= max(bounds):
            end = ctx.week_start(week + timedelta(days=8))
            text, authors = await _chapter(ctx, week, end, published, best)
            if text:
                chapters += 1
                out.write("\n" + ctx.t("export.chapter", n=chapters, span=ctx.span(week)) + "\n\n")
                out.write(ctx.t("export.authors", names=ctx.t("common.list_sep").join(authors)
                                or ctx.t("export.no_authors")) + "\n\n")
                out.write("\n\n".join(text) + "\n")
            week = end
    os.chmod(path, 0o600)
    export.files.append(path)
    export.counts["chapters"] = chapters


async def _chapter(ctx: BaseCtx, start: datetime, end: datetime, published: tuple,
                   best: tuple) -> tuple[list[str], list[str]]:
    """One week of the book: its digests and best answers, and the authors they credit (answer authors, by name;
    members who deleted their data by their pseudonym)."""
    parts: list[str] = []
    author_ids: list[int] = []
    digests = list(await ctx.db.scalars(select(Digest).where(*published, Digest.published_at >= start,
                                                             Digest.published_at < end).order_by(Digest.number)))
    for digest in digests:
        body = await document(ctx, digest)
        if body:
            head, _, rest = body.partition("\n")
            parts.append(f"### {head}\n\n{rest}".rstrip())
    if digests:
        author_ids += list(await ctx.db.scalars(select(DigestPick.author_id).where(
            DigestPick.digest_id.in_([d.id for d in digests])).order_by(DigestPick.picked_at)))
    rows = (await ctx.db.execute(select(Question, Answer).join(Answer, Answer.id == Question.best_answer_id).where(
        *best, Answer.hidden.is_(False), Question.best_marked_at >= start, Question.best_marked_at < end)
        .order_by(Question.number))).all()
    for question, answer in rows:
        author = await ctx.db.get_one(Member, answer.author_id)
        author_ids.append(author.id)
        quoted = "\n".join(f"> {line}" for line in answer.body.splitlines())
        parts.append(ctx.t("export.best", question=f"Q{question.number}", title=question.title, answer=quoted,
                           ref=f"A{answer.number}", author=author.display_name))
    unique = list(dict.fromkeys(author_ids))
    names = dict((await ctx.db.execute(select(Member.id, Member.display_name).where(Member.id.in_(unique)))).all())
    return parts, [names[i] for i in unique if i in names]


async def write_export(ctx: BaseCtx, root: Path) -> Export:
    """Write the community's export into a new directory under `root` (0700); CommandError when it has nothing to
    export (no directory, no ledger, nothing published)."""
    if not await _has_anything(ctx):
        raise CommandError("export.nothing")
    stamp = ctx.now.astimezone(ctx.tz).strftime("%Y%m%d-%H%M%S")
    root.mkdir(parents=True, exist_ok=True)
    directory = root / f"{ctx.community.id}-{stamp}"
    n = 1
    while directory.exists():
        n += 1
        directory = root / f"{ctx.community.id}-{stamp}-{n}"
    directory.mkdir(mode=0o700)
    os.chmod(directory, 0o700)
    export = Export(directory)
    await _directory(ctx, directory, export)
    await _ledger(ctx, directory, export)
    await _book(ctx, directory, export)
    return export


def summary(ctx: BaseCtx, export: Export) -> str:
    return ctx.t("export.done", path=str(export.directory.resolve()),
                 files=ctx.t("common.list_sep").join(p.name for p in export.files), members=export.counts["members"],
                 entries=export.counts["ledger"], chapters=export.counts["chapters"])


@router.command("export", aliases=("导出",), role=Role.OWNER)
async def export(ctx: Ctx) -> None:
    """Write the directory, the fund ledger and the book of digests to files on the server (owners, in private)."""
    # Private only, said here rather than declared: a member asking anywhere is told it is the owners'.
    if not ctx.is_private:
        raise CommandError("common.private_only", command="export")
    if ctx.args.strip():
        raise CommandError("export.usage")
    written = await write_export(ctx, Path(ctx.config.exports_dir))
    if not ctx.can(Capability.CAN_SEND_FILE):
        # WeCom's bots send text only: the owner is told where the files are on the server.
        await ctx.reply_text(summary(ctx, written) + "\n" + ctx.t("export.fetch_note"))
        return
    await ctx.reply_text(summary(ctx, written) + "\n" + ctx.t("export.sent_note"))
    for path in written.files:
        await ctx.send_file(ctx.chat, str(path.resolve()), path.name)


