"""The ledger: every change of money is one row with a UNIQUE reference derived from its cause.
`balance` and `held` on the account are caches of ledger sums, moved in the same call that
posts the row, so they can never drift apart while the writer runs one job at a time."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from peewee import OperationalError, PostgresqlDatabase, fn

from appliance.db import fastsql
from appliance.db.models import Account, ChargingSession, Driver, utcnow
from appliance.db.models_money import Hold, LedgerEntry
from appliance.db.site import site_value
from appliance.errors import N_, InvalidInput, NotFound, Unprocessable

BALANCE_KINDS = ("topup", "topup_reversal", "charge", "refund", "payout", "adjustment")
HOLD_KINDS = ("hold", "release")
KINDS = BALANCE_KINDS + HOLD_KINDS
METHODS = ("cash", "card_terminal", "bank_transfer", "other")
DEFAULT_OVERDRAFT_MINOR = 0  # when the site has not set one
# The largest amount, and balance, a person may book: 2^53 - 1 minor units, the largest whole
# number every JSON reader (JavaScript too) keeps exact, and far below where a 64-bit sum of
# many such rows could overflow. The database refuses rows past MONEY_DB_LIMIT (migration 0011).
AMOUNT_LIMIT = 2**53 - 1
MONEY_DB_LIMIT = 2**62


def check_amount(amount: object, *, positive: bool) -> int:
    """A whole number of minor units inside the safe range, or our InvalidInput (400)."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0 \
            or (positive and amount < 0) or abs(amount) > AMOUNT_LIMIT:
        what = "positive" if positive else "non-zero"
        raise InvalidInput(f"amount must be a {what} whole number of minor units of at most "
                           f"{AMOUNT_LIMIT} in size", details={"field": "amount"})
    return amount


def _check_balance_after(account_id: int, amount: int) -> None:
    """A booking by a person never carries the balance out of the safe range (the account
    locked first, its balance read with the lock)."""
    balance = int(lock_account(account_id).balance or 0)
    if abs(balance + amount) > AMOUNT_LIMIT:
        raise InvalidInput("this would carry the balance past the largest amount the site "
                           "keeps", details={"field": "amount", "limit": AMOUNT_LIMIT})


@dataclass(frozen=True)
class Posting:
    account_id: int
    amount: int
    kind: str
    reference: str
    actor: str = ""
    note: str = ""
    method: str = ""
    receipt_no: str = ""
    session_id: int | None = None


def lock_account(account_id: int) -> Account:
    """The account row, locked until the transaction ends, for a decision on what it may spend.

    One writer thread already serializes every write inside the process, and SQLite locks the
    whole file for a write; a PostgreSQL server may still see a second process by mistake, and
    then two check-then-post decisions on one account must not interleave: FOR UPDATE makes the
    second wait for the first to commit and then read what it wrote."""
    if not isinstance(Account._meta.database, PostgresqlDatabase):
        return fastsql.get_by_id(Account, account_id)  # cached SQL: every stop posts twice
    return Account.select().where(Account.id == account_id).for_update().get()


def post(p: Posting) -> tuple[LedgerEntry, bool]:
    """Write one entry and move the cached column. Returns (entry, created); a reference seen
    before returns the first entry and changes nothing."""
    if p.kind not in KINDS:
        raise ValueError(f"unknown ledger kind {p.kind}")
    account = lock_account(p.account_id)
    after = account.balance + p.amount if p.kind in BALANCE_KINDS else None
    entry = LedgerEntry(
        account=p.account_id, amount=p.amount, kind=p.kind, reference=p.reference,
        actor=p.actor[:80], note=p.note, method=p.method, receipt_no=p.receipt_no[:64],
        session=p.session_id, balance_after=after)
    if not _insert_new(entry):
        return LedgerEntry.get(LedgerEntry.reference == p.reference), False
    column = fastsql.col(Account.balance if p.kind in BALANCE_KINDS else Account.held)

    def build(q: str) -> str:  # written once per column: every stop posts twice
        return (f"UPDATE {fastsql.table(Account)} SET {column} = ({column} + {q}), "
                f"{fastsql.col(Account.updated_at)} = {q} WHERE {fastsql.col(Account.id)} = {q}")

    fastsql.execute(fastsql.sql(f"ledger:move:{column}", build),
                    [p.amount, utcnow(), p.account_id])
    return entry, True


_ENTRY_FIELDS = [f for f in LedgerEntry._meta.sorted_fields if f is not LedgerEntry.id]


def _insert_sql(p: str) -> str:
    columns = ", ".join(fastsql.col(f) for f in _ENTRY_FIELDS)
    return (f"INSERT INTO {fastsql.table(LedgerEntry)} ({columns}) VALUES "
            f"({', '.join([p] * len(_ENTRY_FIELDS))}) ON CONFLICT "
            f"({fastsql.col(LedgerEntry.reference)}) DO NOTHING "
            f"RETURNING {fastsql.col(LedgerEntry.id)}")


def _insert_new(entry: LedgerEntry) -> bool:
    """Insert the entry unless its reference exists (then False, and nothing is written): one
    statement, where a savepoint around an insert that may fail took three."""
    data = entry.__data__
    row = fastsql.execute(fastsql.sql("ledger:insert", _insert_sql),
                          [f.db_value(data.get(f.name)) for f in _ENTRY_FIELDS]).fetchone()
    if row is None:
        return False
    entry.id = row[0]
    cast(Any, entry)._dirty.clear()  # as `create` leaves it
    return True


def ledger_sums(account_id: int) -> tuple[int, int]:
    """(balance, held) derived from the ledger itself."""
    query = LedgerEntry.select(LedgerEntry.kind, fn.SUM(LedgerEntry.amount)).where(
        LedgerEntry.account == account_id)
    sums: dict[str, int] = {}
    try:
        grouped = cast(Iterable[tuple[str, int]], query.group_by(LedgerEntry.kind).tuples())
        sums = dict(grouped)
    except (OverflowError, OperationalError):
        # SQLite's SUM stops at 2^63; rows from before the bounds can pass it: sum them here.
        rows = cast(Iterable[tuple[str, int]], LedgerEntry.select(
            LedgerEntry.kind, LedgerEntry.amount).where(LedgerEntry.account == account_id).tuples())
        for kind, amount in rows:
            sums[kind] = sums.get(kind, 0) + int(amount)
    return (int(sum(sums.get(k) or 0 for k in BALANCE_KINDS)),
            int(sum(sums.get(k) or 0 for k in HOLD_KINDS)))


def all_ledger_sums() -> dict[int, tuple[int, int]] | None:
    """`ledger_sums` of every account with ledger rows, by account, in one statement (the
    nightly check of 50,000 accounts took 8 s of a reader's CPU with a statement each); None
    when a sum passes SQLite's 2^63 (rows from before the bounds): then account by account."""
    le = LedgerEntry

    def build(_: str) -> str:
        account, kind, amount = (fastsql.col(le.account), fastsql.col(le.kind),
                                 fastsql.col(le.amount))

        def of(kinds: tuple[str, ...]) -> str:  # as `ledger_sums`: other kinds count nowhere
            listed = ", ".join(f"'{k}'" for k in kinds)
            return f"SUM(CASE WHEN {kind} IN ({listed}) THEN {amount} ELSE 0 END)"

        return (f"SELECT {account}, {of(BALANCE_KINDS)}, {of(HOLD_KINDS)} "
                f"FROM {fastsql.table(le)} GROUP BY {account}")

    try:
        rows = fastsql.rows(fastsql.sql("ledger:all-sums", build), [], 3)
    except (OverflowError, OperationalError):
        return None
    return {int(a): (int(balance or 0), int(held or 0)) for a, balance, held in rows}


def balance_upto(account_id: int, entry_id: int) -> int:
    """The balance right after a given row: the sum of the balance rows up to it."""
    return int(LedgerEntry.select(fn.COALESCE(fn.SUM(LedgerEntry.amount), 0))
               .where((LedgerEntry.account == account_id) & (LedgerEntry.id <= entry_id)
                      & LedgerEntry.kind.in_(BALANCE_KINDS)).scalar())


SITE_OVERDRAFT = "overdraft_default_minor"  # the site setting


def site_overdraft(stored: str | None) -> int:
    """The site's default overdraft from its stored JSON value (None: not set)."""
    return DEFAULT_OVERDRAFT_MINOR if stored is None else int(json.loads(stored))


def overdraft(driver: Driver, site_default: int | None = None) -> int:
    """The driver's own overdraft, else the site's default (a site setting; `site_default`
    when the caller read it in this call)."""
    if driver.overdraft_minor is not None:
        return int(driver.overdraft_minor)
    if site_default is not None:
        return site_default
    return int(site_value(SITE_OVERDRAFT, DEFAULT_OVERDRAFT_MINOR))


def debt(balance: int, overdraft_minor: int) -> int:
    """What went below zero beyond the overdraft; it blocks new starts until a top-up."""
    return max(0, -overdraft_minor - balance)


def place_hold(account_id: int, amount: int, id_tag: str = "", actor: str = "") -> Hold:
    hold = Hold.create(account=account_id, amount=amount, id_tag=id_tag)
    post(Posting(account_id, amount, "hold", f"hold:{hold.id}", actor=actor))
    return hold


def release_holds(session_id: int, actor: str) -> None:
    """Release every open or captured hold of a session, whole."""
    for hold in fastsql.fetch_in(Hold, Hold.session, [session_id],
                                 f"{fastsql.col(Hold.state)} IN ('open', 'captured')"):
        post(Posting(hold.account_id, -hold.amount, "release", f"release:{hold.id}",
                     actor=actor, session_id=session_id))
        hold.state = "released"
        hold.save()


def topup(account_id: int, amount: int, method: str, receipt_no: str, reference: str,
          actor: str, note: str = "") -> LedgerEntry:
    check_amount(amount, positive=True)
    if method not in METHODS:
        raise InvalidInput(f"method must be one of {', '.join(METHODS)}",
                           details={"field": "method"})
    _check_balance_after(account_id, amount)
    entry, _ = post(Posting(account_id, amount, "topup", reference, actor=actor, note=note,
                            method=method, receipt_no=receipt_no))
    return entry


def correction(account_id: int, kind: str, amount: int, reason: str, reference: str,
               actor: str, session_id: int | None) -> LedgerEntry:
    """A refund of a session (positive) or an adjustment (either sign), with its reason."""
    if not reason.strip():
        raise InvalidInput(N_("Write the reason."), details={"field": "reason"})
    check_amount(amount, positive=False)
    _check_balance_after(account_id, amount)
    if kind == "refund":
        _check_refund(account_id, amount, session_id)
    entry, _ = post(Posting(account_id, amount, kind, reference, actor=actor, note=reason,
                            session_id=session_id))
    return entry


def _check_refund(account_id: int, amount: int, session_id: int | None) -> None:
    session = ChargingSession.get_or_none(ChargingSession.id == session_id) \
        if session_id else None
    if session is None or session.account_id != account_id:
        raise NotFound(N_("A refund needs a session of this driver."),
                       details={"field": "session_id"})
    refunded = (LedgerEntry.select(fn.COALESCE(fn.SUM(LedgerEntry.amount), 0))
                .where((LedgerEntry.session == session_id) & (LedgerEntry.kind == "refund"))
                .scalar())
    if amount < 0 or amount + int(refunded) > (session.fee_minor or 0):
        raise Unprocessable(N_("A refund is above zero and at most the session's fee."),
                            details={"fee": session.fee_minor, "refunded": int(refunded)})


def entries(account_id: int, after: int | None, limit: int) -> list[dict[str, Any]]:
    """Entries oldest first with the running balance after each (holds move `held` only)."""
    query = LedgerEntry.select().where(LedgerEntry.account == account_id)
    running = 0
    if after is not None:
        query = query.where(LedgerEntry.id > after)
        running = int(LedgerEntry.select(fn.COALESCE(fn.SUM(LedgerEntry.amount), 0))
                      .where((LedgerEntry.account == account_id) & (LedgerEntry.id <= after)
                             & LedgerEntry.kind.in_(BALANCE_KINDS)).scalar())
    out = []
    for e in query.order_by(LedgerEntry.id).limit(limit):
        if e.kind in BALANCE_KINDS:
            running += e.amount
        out.append({"id": e.id, "kind": e.kind, "amount": e.amount, "reference": e.reference,
                    "actor": e.actor, "method": e.method or None,
                    "receipt_no": e.receipt_no or None, "note": e.note,
                    "session_id": e.session_id, "created_at": e.created_at,
                    "balance_after": running})
    return out
