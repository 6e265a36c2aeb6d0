"""Ledger agreement for `appliance check`: every cached balance and held amount against the sums
of its ledger, and every finished commercial session charged exactly once."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, cast

from peewee import fn

from appliance.db.database import Database


def check_ledger(database: Database) -> Iterator[tuple[bool, str]]:
    tables = set(database.db.get_tables())
    if "ledger_entry" not in tables:
        yield True, "ledger: no money tables in this schema"
        return
    yield from database.run_sync(_check)


def _check() -> list[tuple[bool, str]]:
    from appliance.billing.ledger import all_ledger_sums, ledger_sums
    from appliance.db.models import Account, ChargingSession
    from appliance.db.models_money import LedgerEntry

    out: list[tuple[bool, str]] = []
    bad = []
    accounts = list(Account.select(Account.id, Account.balance, Account.held).tuples())
    every = all_ledger_sums()
    for account_id, cached_balance, cached_held in accounts:
        balance, held = (every.get(account_id, (0, 0)) if every is not None
                         else ledger_sums(account_id))
        if (balance, held) != (cached_balance, cached_held):
            bad.append(f"account {account_id}: cached {cached_balance}/{cached_held}, "
                       f"ledger {balance}/{held}")
    out.append((not bad, f"ledger: {len(accounts)} accounts, {len(bad)} disagree"))
    out.extend((False, line) for line in bad)
    twice = (LedgerEntry.select(LedgerEntry.session, fn.COUNT(LedgerEntry.id))
             .where(LedgerEntry.kind == "charge").group_by(LedgerEntry.session)
             .having(fn.COUNT(LedgerEntry.id) > 1).count())
    out.append((twice == 0, f"ledger: {twice} sessions charged more than once"))
    unsettled = (ChargingSession.select().where(ChargingSession.stopped_at.is_null(False)
                                                & ~ChargingSession.settled).count())
    out.append((unsettled == 0, f"ledger: {unsettled} stopped sessions not settled"))
    out.extend(_money_in_range())
    return out


def _money_in_range() -> list[tuple[bool, str]]:
    """Money columns hold whole numbers within the database's bound (rows from before
    migration 0011 may not): each one outside is named."""
    from appliance.billing.ledger import MONEY_DB_LIMIT
    from appliance.db.models import Account
    from appliance.db.models_money import LedgerEntry

    bad: list[str] = []
    columns: tuple[tuple[Any, Any], ...] = ((Account, Account.balance), (Account, Account.held),
                                            (LedgerEntry, LedgerEntry.amount))
    for model, column in columns:
        rows = cast(Iterable[tuple[int]], model.select(model.id).where(
            (column > MONEY_DB_LIMIT) | (column < -MONEY_DB_LIMIT)).tuples())
        bad.extend(f"{model._meta.table_name} {row[0]}: {column.name} out of range"
                   for row in rows)
    return [(not bad, f"money: {len(bad)} values out of range"),
            *((False, line) for line in bad)]
