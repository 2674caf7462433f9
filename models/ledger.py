"""Double-entry ledgers of points and money (fen): accounts with balances, entries that move amounts.

Every movement is one entry debiting one account and crediting another by a positive integer, so the balances of
a community's accounts in one unit always sum to zero. Member accounts never go negative: a spend is one
conditional UPDATE (balance >= amount), which also serialises concurrent spends across processes, and a CHECK
constraint backs it. Each entry has an idempotency key: posting the same key twice changes nothing.
Mistakes are fixed by a reversing entry, never by editing.
"""
from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.orm.attributes import set_committed_value

from models.base import Base, UTCDateTime, table
from models.db import dialect_of, insert_ignoring_conflicts

POINTS, FEN = "points", "fen"


class Insufficient(Exception):
    """The debited account does not hold the amount."""

    def __init__(self, account: LedgerAccount, balance: int) -> None:
        super().__init__(f"{account.key} holds {balance}")
        self.account = account
        self.balance = balance


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (UniqueConstraint("community_id", "unit", "key", name="uq_ledger_accounts_key"),
                      CheckConstraint("may_go_negative OR balance >= 0", name="not_negative"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    unit: Mapped[str] = mapped_column(String(8))
    key: Mapped[str] = mapped_column(String(64))            # "pool", "allowance:12:20261123", "payable:12"
    kind: Mapped[str] = mapped_column(String(16))           # the key's first part
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    week: Mapped[datetime | None] = mapped_column(UTCDateTime())   # for a weekly allowance
    may_go_negative: Mapped[bool] = mapped_column(Boolean, default=False)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)


Index("ix_ledger_accounts_kind", LedgerAccount.community_id, LedgerAccount.unit, LedgerAccount.kind,
      LedgerAccount.balance)


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (UniqueConstraint("community_id", "unit", "number", name="uq_ledger_entries_number"),
                      UniqueConstraint("community_id", "unit", "key", name="uq_ledger_entries_key"),
                      UniqueConstraint("reverses_id"),
                      CheckConstraint("amount > 0", name="positive"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    unit: Mapped[str] = mapped_column(String(8))
    number: Mapped[int] = mapped_column(Integer)           # #12 in the open ledger, per community and unit
    debit_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))     # the amount leaves this account
    credit_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))    # ... and arrives here
    amount: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))          # tip, grant, expire, entry_fee, reward, paid, ...
    week: Mapped[datetime | None] = mapped_column(UTCDateTime())
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))    # whom it concerns (receiver, payer)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))     # who did it (tipper, treasurer)
    answer_id: Mapped[int | None] = mapped_column(ForeignKey("answers.id"))
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id"))
    reason: Mapped[str | None] = mapped_column(String(200))
    cause: Mapped[str] = mapped_column(String(200))        # the message id or job run that made it
    key: Mapped[str] = mapped_column(String(200))          # idempotency key
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


Index("ix_ledger_entries_member", LedgerEntry.member_id, LedgerEntry.unit, LedgerEntry.kind, LedgerEntry.created_at)
Index("ix_ledger_entries_kind", LedgerEntry.community_id, LedgerEntry.unit, LedgerEntry.kind, LedgerEntry.created_at)
# The tips an answer received (a digest shows them; hiding an answer recounts them).
Index("ix_ledger_entries_answer", LedgerEntry.answer_id)


def _lock_key(community_id: str) -> int:
    """A stable 64-bit advisory lock key per community."""
    digest = hashlib.blake2b(f"qunbot:community:{community_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_community(db: AsyncSession, community_id: str) -> None:
    """Serialise the ledger writers of one community (commands and jobs, in every bot process) until this
    transaction ends. Each entry's number is the community's next one, so two writers interleaving would collide;
    with this lock the later one waits and then reads the new numbers. On PostgreSQL a transaction-scoped advisory
    lock; SQLite lets one transaction write at a time anyway."""
    if dialect_of(db) != "postgresql":
        return
    held = db.info.setdefault("community_locks", {})       # community -> the transaction holding its lock
    transaction = db.get_transaction()
    if held.get(community_id) is not transaction:
        await db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(community_id)})
        held[community_id] = transaction


# Built once: a tip runs each of these several times (ledger writers are on commands' hot path).
_ACCOUNT = select(LedgerAccount).where(LedgerAccount.community_id == bindparam("community_id"),
                                       LedgerAccount.unit == bindparam("unit"), LedgerAccount.key == bindparam("key"))
_ENTRY = select(LedgerEntry).where(LedgerEntry.community_id == bindparam("community_id"),
                                   LedgerEntry.unit == bindparam("unit"), LedgerEntry.key == bindparam("key"))
_accounts = table(LedgerAccount)
_SPEND = (update(_accounts)
          .where(_accounts.c.id == bindparam("account"),
                 _accounts.c.may_go_negative | (_accounts.c.balance >= bindparam("amount")))
          .values(balance=_accounts.c.balance - bindparam("amount")).returning(_accounts.c.balance))
_RECEIVE = (update(_accounts).where(_accounts.c.id == bindparam("account"))
            .values(balance=_accounts.c.balance + bindparam("amount")).returning(_accounts.c.balance))
_BALANCE = select(LedgerAccount.balance).where(LedgerAccount.id == bindparam("account"))


async def account(db: AsyncSession, community_id: str, unit: str, key: str, *, member_id: int | None = None,
                  week: datetime | None = None, may_go_negative: bool = False, new: bool = False) -> LedgerAccount:
    """The account `key`, opened (empty) on first use (holding the community's ledger lock, like every write).
    `new`: the caller has just looked and found none, so it is opened straight away."""
    await lock_community(db, community_id)
    where = {"community_id": community_id, "unit": unit, "key": key}
    if not new and (found := await db.scalar(_ACCOUNT, where)) is not None:
        return found
    await db.execute(insert_ignoring_conflicts(db, LedgerAccount).values(
        community_id=community_id, unit=unit, key=key, kind=key.split(":", 1)[0], member_id=member_id, week=week,
        may_go_negative=may_go_negative, balance=0))
    return (await db.scalars(_ACCOUNT, where)).one()


async def find_account(db: AsyncSession, community_id: str, unit: str, key: str) -> LedgerAccount | None:
    return await db.scalar(_ACCOUNT, {"community_id": community_id, "unit": unit, "key": key})


async def find_entry(db: AsyncSession, community_id: str, unit: str, key: str) -> LedgerEntry | None:
    return await db.scalar(_ENTRY, {"community_id": community_id, "unit": unit, "key": key})


async def balance_of(db: AsyncSession, account_id: int) -> int:
    return (await db.scalars(_BALANCE, {"account": account_id})).one()


async def post(db: AsyncSession, debit: LedgerAccount, credit: LedgerAccount, amount: int, *, kind: str, key: str,
               cause: str, now: datetime, **details: Any) -> tuple[LedgerEntry, bool]:
    """Move `amount` from `debit` to `credit` once per `key`: (the entry, True if new; False: already posted).

    Raises Insufficient (changing nothing) when `debit` may not go negative and holds less than `amount`.
    """
    if amount <= 0:
        raise ValueError("ledger amounts are positive")
    if debit.community_id != credit.community_id or debit.unit != credit.unit:
        raise ValueError("an entry moves one unit within one community")
    await lock_community(db, debit.community_id)
    existing = await find_entry(db, debit.community_id, debit.unit, key)
    if existing is not None:
        return existing, False
    left = (await db.execute(_SPEND, {"account": debit.id, "amount": amount})).scalar()
    if left is None:
        raise Insufficient(debit, await balance_of(db, debit.id))
    held = (await db.execute(_RECEIVE, {"account": credit.id, "amount": amount})).scalar_one()
    # The loaded objects show the new balances without being marked changed (the UPDATEs above are the truth).
    set_committed_value(debit, "balance", left)
    set_committed_value(credit, "balance", held)
    # The entry takes the community's next number in the same statement (writers hold the ledger lock).
    number = (select(func.coalesce(func.max(LedgerEntry.number), 0) + 1)
              .where(LedgerEntry.community_id == debit.community_id, LedgerEntry.unit == debit.unit)
              .scalar_subquery())
    entry = (await db.scalars(insert(LedgerEntry).values(
        community_id=debit.community_id, unit=debit.unit, number=number, debit_id=debit.id, credit_id=credit.id,
        amount=amount, kind=kind, key=key, cause=cause, created_at=now, **details).returning(LedgerEntry))).one()
    return entry, True


async def reverse(db: AsyncSession, entry: LedgerEntry, *, cause: str, now: datetime, actor_id: int | None,
                  reason: str | None = None) -> LedgerEntry:
    """A new entry moving the amount back; raises Insufficient when the money has moved on meanwhile."""
    debit = await db.get_one(LedgerAccount, entry.credit_id)
    credit = await db.get_one(LedgerAccount, entry.debit_id)
    reversal, _ = await post(db, debit, credit, entry.amount, kind="reversal", key=f"reverse:{entry.id}", cause=cause,
                             now=now, week=entry.week, member_id=entry.member_id, actor_id=actor_id,
                             answer_id=entry.answer_id, question_id=entry.question_id, reason=reason,
                             reverses_id=entry.id)
    return reversal


async def hand_over_allowance(db: AsyncSession, community_id: str, old_member_id: int, new_member_id: int,
                              week: datetime) -> None:
    """A member who deleted their data continues under a new roster row: this week's allowance goes with them,
    so deleting cannot mint a second one. Past weeks stay with the pseudonym (history is not relinked)."""
    await lock_community(db, community_id)
    for acc in list(await db.scalars(select(LedgerAccount).where(
            LedgerAccount.community_id == community_id, LedgerAccount.kind == "allowance",
            LedgerAccount.member_id == old_member_id, LedgerAccount.week == week))):
        acc.member_id = new_member_id
        acc.key = acc.key.replace(f"allowance:{old_member_id}:", f"allowance:{new_member_id}:", 1)
