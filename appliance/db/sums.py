"""Sums of money columns that never overflow: SQLite's SUM raises "integer overflow" past 2^63,
which rows from before the money bounds (migration 0011) can reach; reports and checks must
still run on them."""

from __future__ import annotations

from typing import Any

from peewee import Field, PostgresqlDatabase, fn


def money_sum(field: Field) -> Any:
    """SUM on PostgreSQL (a numeric for BIGINT: it cannot overflow); on SQLite, TOTAL, a float
    that is exact while the sum stays under 2^53, which every bounded amount and balance does."""
    if isinstance(field.model._meta.database, PostgresqlDatabase):
        return fn.SUM(field)
    return fn.TOTAL(field)
