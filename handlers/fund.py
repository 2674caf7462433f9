"""The group fund: real money recorded (the bot moves none) in an open, double-entry ledger of fen.

Accounts: "external" (the world outside: income comes from it, money paid out returns to it), "pool" (the reward
pool), "ops" (ops fees, for the duty moderator's stipend), "payable:<member>" (rewards owed), "paid" (rewards
handed over). A waived entry fee is a memo between "memo" and "waived": visible in the ledger, never cash.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.orm import aliased

from bot.cleaning import clean
from bot.context import BaseCtx, Ctx
from bot.errors import CommandError
from bot.money import AmountError, format_fen, parse_amount
from bot.roles import Role
from bot.router import Router
from bot.text import NUMBER, clip, split_first, too_long
from bot.weeks import week_start
from models import LedgerAccount, LedgerEntry, Member, WeeklyResult
from models.ledger import FEN, Insufficient, account, lock_community, post, reverse

router = Router()

# The word after the amount says what the income is for.
INCOME_WORDS = {
    "入群费": "entry_fee", "入群": "entry_fee", "entry": "entry_fee", "entry_fee": "entry_fee",
    "运营费": "ops_fee", "运营": "ops_fee", "ops": "ops_fee", "ops_fee": "ops_fee",
    "捐赠": "donation", "赞助": "donation", "其他": "donation", "donation": "donation", "other": "donation",
}
INCOME_ACCOUNT = {"entry_fee": "pool", "donation": "pool", "ops_fee": "ops"}
EVERYTHING = ("all", "全部")
# Accounts of money owed to a member, and the kind of entry that records it handed over.
OWED_KINDS = {"payable": "paid", "stipend": "stipend_paid"}
LOG_LINES = 15                  # entries per page of /fund log
NOTE_LIMIT = 50


async def cash(ctx: BaseCtx, key: str, member_id: int | None = None) -> LedgerAccount:
    return await account(ctx.db, ctx.community.id, FEN, key, member_id=member_id,
                         may_go_negative=key in ("external", "memo"))


async def balances(ctx: BaseCtx) -> dict[str, int]:
    """Balance per account kind ('pool', 'ops', 'payable' summed over members, ...)."""
    rows = await ctx.db.execute(select(LedgerAccount.kind, func.sum(LedgerAccount.balance)).where(
        LedgerAccount.community_id == ctx.community.id, LedgerAccount.unit == FEN).group_by(LedgerAccount.kind))
    return {kind: int(total) for kind, total in rows}


def fund_end(ctx: BaseCtx) -> datetime:
    """The last payout: fund.end_date, else the start of the week `weeks` weeks after the community's first."""
    cfg = ctx.ccfg.fund
    tz = ctx.tz
    if cfg.end_date is not None:
        return datetime(cfg.end_date.year, cfg.end_date.month, cfg.end_date.day, tzinfo=tz)
    return week_start(ctx.community.started_at + timedelta(weeks=cfg.weeks), tz, ctx.ccfg.week_start)


def weeks_left(ctx: BaseCtx, payout_at: datetime) -> int:
    """Payouts from `payout_at` to the end, this one included (at least 1: after the end, all that is left)."""
    return max(1, (fund_end(ctx) - payout_at) // timedelta(weeks=1) + 1)


def weekly_pool(ctx: BaseCtx, available: int, payout_at: datetime) -> int:
    """DESIGN's rule: (pool balance - payables) // weeks left to the end date (payables already left the pool)."""
    return max(0, available) // weeks_left(ctx, payout_at)


def next_payout(ctx: BaseCtx) -> datetime:
    """When this week's pool is paid: the start of next week."""
    return ctx.week_start(ctx.now + timedelta(days=7))


# ---- /fund -----------------------------------------------------------------------------------------------------

@router.command("fund", aliases=("基金",))
async def fund(ctx: Ctx) -> None:
    """The open ledger of the group fund: balances, the weekly pool, the last payouts. Its verbs follow: every
    entry (流水) for everyone; treasurers record income, payouts and corrections."""
    if ctx.args.strip():
        raise CommandError("fund.usage")          # not one of the verbs below
    await _overview(ctx)


@router.subcommand("fund", "in", aliases=("入账", "收入"), role=Role.TREASURER)
async def fund_in(ctx: Ctx) -> None:
    """Record income: an entry fee, an ops fee or a donation, from a member or unnamed."""
    await lock_community(ctx.db, ctx.community.id)
    payers = await ctx.mentioned_members()
    if len(payers) > 1:
        raise CommandError("fund.one_payer")
    payer = payers[0] if payers else None
    amount_text, rest = split_first(ctx.args_without_mentions)
    category, note = split_first(rest)
    note = clean(note).strip()
    if not amount_text or not category:
        raise CommandError("fund.in_usage")
    try:
        fen = parse_amount(amount_text)
    except AmountError as exc:
        raise CommandError(f"fund.amount_{exc.reason}", amount=clip(amount_text)) from None
    kind = INCOME_WORDS.get(category.lower())
    if kind is None:
        raise CommandError("fund.unknown_category", category=clip(category))
    if note and too_long(note, NOTE_LIMIT):
        raise CommandError("fund.note_too_long", limit=NOTE_LIMIT)
    target = INCOME_ACCOUNT[kind]
    entry, _ = await post(ctx.db, await cash(ctx, "external"), await cash(ctx, target), fen, kind=kind,
                          key=f"in:{ctx.cause}", cause=ctx.cause, now=ctx.now,
                          member_id=payer.id if payer else None, actor_id=ctx.member.id, reason=note or None)
    await ctx.reply("fund.in_ok", n=entry.number, amount=format_fen(fen), kind=ctx.t(f"fund.kind.{kind}"),
                    payer=payer.display_name if payer else ctx.t("fund.anonymous"),
                    account=ctx.t(f"fund.account.{target}"))


@router.subcommand("fund", "undo", aliases=("撤销",), role=Role.TREASURER)
async def fund_undo(ctx: Ctx) -> None:
    """Reverse an entry of the ledger by its number (once; never by editing it)."""
    await lock_community(ctx.db, ctx.community.id)
    token, note = split_first(ctx.args)
    note = clean(note).strip()
    token = token.lstrip("#＃")
    if not NUMBER.match(token):
        raise CommandError("fund.undo_usage")
    entry = await ctx.db.scalar(select(LedgerEntry).where(
        LedgerEntry.community_id == ctx.community.id, LedgerEntry.unit == FEN, LedgerEntry.number == int(token)))
    if entry is None:
        raise CommandError("fund.no_entry", n=token)
    if entry.kind == "reversal":
        raise CommandError("fund.undo_reversal", n=entry.number)
    done = await ctx.db.scalar(select(LedgerEntry.number).where(LedgerEntry.reverses_id == entry.id))
    if done is not None:
        raise CommandError("fund.already_undone", n=entry.number, by=done)
    try:
        reversal = await reverse(ctx.db, entry, cause=ctx.cause, now=ctx.now, actor_id=ctx.member.id,
                                 reason=note or None)
    except Insufficient as exc:
        raise CommandError("fund.undo_spent", n=entry.number, amount=format_fen(entry.amount),
                           account=_account_label(ctx, exc.account), balance=format_fen(exc.balance)) from None
    if entry.kind == "reward":
        await ctx.db.execute(update(WeeklyResult).where(WeeklyResult.entry_id == entry.id)
                             .values(entry_id=None, amount=0).execution_options(synchronize_session=False))
    await ctx.reply("fund.undo_ok", n=entry.number, new=reversal.number, amount=format_fen(entry.amount),
                    kind=ctx.t(f"fund.kind.{entry.kind}"))


@router.subcommand("fund", "paid", aliases=("已付", "付款"), role=Role.TREASURER)
async def fund_paid(ctx: Ctx) -> None:
    """Rewards handed over: all of one member's payable (or a part), or everything owed."""
    await lock_community(ctx.db, ctx.community.id)
    payees = await ctx.mentioned_members()
    words = ctx.args_without_mentions.split()
    everything = len(words) == 1 and words[0].lower() in EVERYTHING
    # Rewards owed (payable) and duty stipends owed (stipend) alike.
    query = select(LedgerAccount).where(LedgerAccount.community_id == ctx.community.id, LedgerAccount.unit == FEN,
                                        LedgerAccount.kind.in_(OWED_KINDS), LedgerAccount.balance > 0)
    if payees:
        if len(payees) > 1:
            raise CommandError("fund.one_payee")
        query = query.where(LedgerAccount.member_id == payees[0].id)
    elif not everything:
        raise CommandError("fund.paid_usage")
    part = None                     # all that is owed, unless an amount is given for one member
    if payees and words and not everything:
        try:
            part = parse_amount(" ".join(words))         # "20", "20 元", "¥ 1,000"
        except AmountError as exc:
            if len(words) > 1:
                raise CommandError("fund.paid_usage") from None
            raise CommandError(f"fund.amount_{exc.reason}", amount=clip(words[0])) from None
    owed = list(await ctx.db.scalars(query.order_by(LedgerAccount.id)))
    if not owed:
        raise CommandError("fund.nothing_owed", name=payees[0].display_name if payees else ctx.t("fund.anyone"))
    paid_to = await cash(ctx, "paid")
    lines = []
    for payable in owed:
        amount = part if part is not None else payable.balance
        try:
            entry, _ = await post(ctx.db, payable, paid_to, amount, kind=OWED_KINDS[payable.kind],
                                  key=f"paid:{ctx.cause}:{payable.id}", cause=ctx.cause, now=ctx.now,
                                  member_id=payable.member_id, actor_id=ctx.member.id)
        except Insufficient as exc:
            raise CommandError("fund.paid_too_much", amount=format_fen(amount), owed=format_fen(exc.balance)) from None
        name = await ctx.db.scalar(select(Member.display_name).where(Member.id == payable.member_id))
        line = "fund.paid_line_stipend" if payable.kind == "stipend" else "fund.paid_line"
        lines.append(ctx.t(line, n=entry.number, name=name, amount=format_fen(amount)))
    await ctx.reply("fund.paid_ok", lines="\n".join(lines))


async def owed_to(ctx: BaseCtx, member_ids: list[int]) -> dict[int, int]:
    """Rewards still owed (payable, not yet handed over) per member."""
    return {m: int(b) for m, b in await ctx.db.execute(select(LedgerAccount.member_id, LedgerAccount.balance).where(
        LedgerAccount.community_id == ctx.community.id, LedgerAccount.unit == FEN, LedgerAccount.kind == "payable",
        LedgerAccount.member_id.in_(member_ids))) if m is not None}


def _account_label(ctx: BaseCtx, acc: LedgerAccount) -> str:
    return ctx.t(f"fund.account.{acc.kind}")


# ---- reading the ledger ----------------------------------------------------------------------------------------

_UNDONE = aliased(LedgerEntry, name="undone")      # made once, so the statement is built and compiled once

async def _income_by_kind(ctx: BaseCtx) -> dict[str, int]:
    """Income per kind, and stipends handed over, less what was reversed."""
    undone = _UNDONE
    rows = await ctx.db.execute(
        select(LedgerEntry.kind, func.sum(LedgerEntry.amount)).where(
            LedgerEntry.community_id == ctx.community.id, LedgerEntry.unit == FEN,
            LedgerEntry.kind.in_([*INCOME_ACCOUNT, "stipend_paid"]),
            ~exists().where(undone.reverses_id == LedgerEntry.id))
        .group_by(LedgerEntry.kind))
    return {kind: int(total) for kind, total in rows}


async def last_results(ctx: BaseCtx) -> tuple[datetime | None, list[tuple[WeeklyResult, str, int]]]:
    """The latest scored week: (its start, [(rewarded result, name, still owed to that member)])."""
    week = await ctx.db.scalar(select(func.max(WeeklyResult.week)).where(WeeklyResult.community_id == ctx.community.id))
    if week is None:
        return None, []
    rows = (await ctx.db.execute(
        select(WeeklyResult, Member.display_name, func.coalesce(LedgerAccount.balance, 0))
        .join(Member, Member.id == WeeklyResult.member_id)
        .outerjoin(LedgerAccount, and_(LedgerAccount.community_id == ctx.community.id, LedgerAccount.unit == FEN,
                                       LedgerAccount.kind == "payable", LedgerAccount.member_id == Member.id))
        .where(WeeklyResult.community_id == ctx.community.id, WeeklyResult.week == week, WeeklyResult.amount > 0)
        .order_by(WeeklyResult.place, WeeklyResult.member_id))).all()
    return week, [(r, name, int(owed)) for r, name, owed in rows]


async def _overview(ctx: Ctx) -> None:
    held = await balances(ctx)
    income = await _income_by_kind(ctx)
    available = held.get("pool", 0)
    payout = next_payout(ctx)
    left = weeks_left(ctx, payout)
    lines = [ctx.t("fund.title", community=ctx.community.name),
             ctx.t("fund.pool", available=format_fen(available), payable=format_fen(held.get("payable", 0))),
             ctx.t("fund.weekly", amount=format_fen(weekly_pool(ctx, available, payout)),
                   available=format_fen(available), weeks=left, end=ctx.date(fund_end(ctx))),
             ctx.t("fund.ops", amount=format_fen(held.get("ops", 0))),
             ctx.t("fund.income", total=format_fen(sum(income.values())),
                   entry=format_fen(income.get("entry_fee", 0)), ops=format_fen(income.get("ops_fee", 0)),
                   other=format_fen(income.get("donation", 0)),
                   paid=format_fen(held.get("paid", 0) - income.get("stipend_paid", 0)))]
    if "stipend" in held or "unfunded" in held:       # once a duty stipend was ever posted
        lines.insert(4, ctx.t("fund.stipends", owed=format_fen(held.get("stipend", 0)),
                              paid=format_fen(income.get("stipend_paid", 0)),
                              unfunded=format_fen(-held.get("unfunded", 0))))
    waivers = await ctx.db.scalar(select(func.count()).where(
        LedgerEntry.community_id == ctx.community.id, LedgerEntry.unit == FEN, LedgerEntry.kind == "waiver"))
    if waivers:
        lines.append(ctx.t("fund.waivers", count=waivers, amount=format_fen(held.get("waived", 0))))
    week, results = await last_results(ctx)
    if week is not None:
        lines.append(ctx.t("fund.last_payouts", span=ctx.span(week)))
        paid_any = False
        for result, name, owed in results:
            if result.amount:
                paid_any = True
                status = ctx.t("fund.owed") if owed else ctx.t("fund.settled")
                lines.append(ctx.t("fund.payout_line", place=result.place, name=name,
                                   amount=format_fen(result.amount), status=status))
        if not paid_any:
            lines.append(ctx.t("fund.no_payouts"))
    lines.append(ctx.t("fund.hint"))
    await ctx.reply_text("\n".join(lines))


@router.subcommand("fund", "log", aliases=("流水", "账本"))
async def fund_log(ctx: Ctx) -> None:
    """Every entry, newest first, a page at a time: `/fund log 2` is the next page."""
    token = ctx.args.strip()
    if token and not (NUMBER.match(token) and int(token) > 0):
        raise CommandError("fund.log_usage")
    page = int(token or 1)
    of_fund = (LedgerEntry.community_id == ctx.community.id) & (LedgerEntry.unit == FEN)
    total = await ctx.db.scalar(select(func.count()).where(of_fund))
    if not total:
        raise CommandError("fund.log_empty")
    pages = -(-total // LOG_LINES)
    if page > pages:
        raise CommandError("fund.log_no_page", page=page, pages=pages)
    entries = list(await ctx.db.scalars(select(LedgerEntry).where(of_fund).order_by(LedgerEntry.number.desc())
                                        .offset((page - 1) * LOG_LINES).limit(LOG_LINES)))
    ids = {e.member_id for e in entries} | {e.actor_id for e in entries}
    names = dict((await ctx.db.execute(select(Member.id, Member.display_name).where(Member.id.in_(ids)))).all())
    reversed_numbers = dict((await ctx.db.execute(select(LedgerEntry.id, LedgerEntry.number).where(
        LedgerEntry.id.in_([e.reverses_id for e in entries if e.reverses_id])))).all())
    if pages == 1:
        lines = [ctx.t("fund.log_title", count=len(entries))]
    else:
        lines = [ctx.t("fund.log_page_title", total=total, page=page, pages=pages)]
    for e in entries:
        what = ctx.t(f"fund.kind.{e.kind}")
        if e.reverses_id:
            what = ctx.t("fund.kind.reversal_of", n=reversed_numbers.get(e.reverses_id, "?"))
        who = (names.get(e.member_id) if e.member_id else None) or ctx.t("fund.anonymous")
        line = ctx.t("fund.log_line", n=e.number, date=ctx.day(e.created_at, padded=True), what=what,
                     amount=format_fen(e.amount), who=who)
        if e.reason:
            line += ctx.t("fund.log_note", note=e.reason)
        if e.actor_id and e.actor_id in names:
            line += ctx.t("fund.log_by", name=names[e.actor_id])
        lines.append(line)
    if page < pages:
        lines.append(ctx.t("fund.log_more", next=page + 1))
    await ctx.reply_text("\n".join(lines))
