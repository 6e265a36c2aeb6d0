"""Hand-written SQL for the charging room's hot path (StatusNotification, MeterValues), built once
per database from the models' own table and column names, for SQLite and PostgreSQL alike.

Why: profiled under load, the writer thread spent about 60% of its time in peewee compiling the
same few queries again for every report; these strings are compiled once."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar, cast

import orjson
import peewee

from appliance.db.models import BaseModel, ChargingSession

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")


def db_of(model: type[peewee.Model]) -> peewee.Database:
    return cast("peewee.Database", model._meta.database)


def table(model: type[peewee.Model]) -> str:
    return f'"{model._meta.table_name}"'


def col(field: peewee.Field) -> str:
    return f'"{field.column_name}"'


_STATEMENTS: dict[tuple[str, str], str] = {}  # (key, placeholder) -> SQL; a few dozen at most


class Build(Protocol):
    """Builds a statement from the database's placeholder. A protocol, not a Callable: mypy
    infers `lambda p, i=i: ...` (a loop value bound as a default) only against this."""

    def __call__(self, placeholder: str, /) -> str: ...


def sql(key: str, build: Build) -> str:
    """The statement `build(placeholder)` for the bound database, built on first use only."""
    param = db_of(ChargingSession).param
    statement = _STATEMENTS.get((key, param))
    if statement is None:
        statement = _STATEMENTS[(key, param)] = build(param)
    return statement


def execute(statement: str, params: Sequence[Any] = ()) -> Any:
    return db_of(ChargingSession).execute_sql(statement, params)


def insert_rows(model: type[peewee.Model], fields: Sequence[peewee.Field],
                rows: list[tuple[Any, ...]]) -> None:
    """Multi-row INSERTs of a power of two rows each (`pieces`)."""
    width = len(fields)
    for piece in pieces(rows):
        def build(p: str, n: int = len(piece)) -> str:
            one = "(" + ", ".join([p] * width) + ")"
            return (f"INSERT INTO {table(model)} ({', '.join(col(f) for f in fields)}) VALUES "
                    + ", ".join([one] * n))

        key = f"insert:{model._meta.table_name}:{','.join(f.name for f in fields)}:{len(piece)}"
        execute(sql(key, build), [v for row in piece for v in row])


PIECE_MAX = 128


def pieces(rows: Sequence[R], most: int = PIECE_MAX) -> list[Sequence[R]]:
    """`rows` cut in pieces of a power of two rows each, largest first (37: 32, 4, 1), for
    multi-row statements that cannot be padded (an INSERT, an upsert): a statement text per row
    count, so a batch of any size is written with a few of eight texts (1 to 128 rows), which
    stay in the connection's statement cache. A text for every count (1 to 200) did not: at
    10,000 chargers the writer parsed some 600 statements a second, a tenth of its time."""
    out: list[Sequence[R]] = []
    at, left = 0, len(rows)
    while left:
        size = most
        while size > left:
            size //= 2
        out.append(rows[at:at + size])
        at, left = at + size, left - size
    return out


def datetime_value(field: peewee.Field) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if isinstance(value, str):
            try:  # SQLite's text, as peewee writes it: ISO 8601 with a space
                return datetime.fromisoformat(value)
            except ValueError:
                pass
        return field.python_value(value)

    return convert


Converter = tuple[str, Callable[[Any], Any]]


class RowPlan:
    """How a row of some fields becomes a model's `__data__`: the fields' names, and the few
    columns whose driver value must be converted (dates, booleans, decimals). Integers, floats,
    text and keys come from both drivers as they are kept, so most columns are taken as they
    come, by `dict(zip())` in C instead of a Python step per column (a Station's 40 columns:
    `model_from_row` was a fifth of a money decision's writer time)."""

    __slots__ = ("names", "converted")

    def __init__(self, fields: Sequence[peewee.Field]) -> None:
        self.names = tuple(f.name for f in fields)
        self.converted: tuple[Converter, ...] = tuple(
            (f.name, datetime_value(f)) if isinstance(f, peewee.DateTimeField)
            else (f.name, f.python_value) for f in fields
            if isinstance(f, peewee.DateTimeField | peewee.BooleanField | peewee.DecimalField
                          | peewee.DateField))


# id of a fields list -> (that list, its plan): the list is held, so no other list takes its id
# while it is here. The hot paths pass module-level lists; past the most, start again.
_PLANS: dict[int, tuple[Sequence[peewee.Field], RowPlan]] = {}
_PLANS_MAX = 512


def row_plan(fields: Sequence[peewee.Field]) -> RowPlan:
    """The plan of these fields, looked up by the list itself (no tuple of 40 ids to build and
    hash on every row)."""
    held = _PLANS.get(id(fields))
    if held is not None and held[0] is fields:
        return held[1]
    if len(_PLANS) >= _PLANS_MAX:
        _PLANS.clear()
    plan = RowPlan(fields)
    _PLANS[id(fields)] = (fields, plan)
    return plan


def model_from_row(model: type[M], fields: Sequence[peewee.Field], row: Sequence[Any],
                   plan: RowPlan | None = None) -> M:
    """A model instance from a row of `fields`, converted as peewee would (built as peewee builds
    the rows of a query, without a setattr per column)."""
    plan = plan or row_plan(fields)
    data = dict(zip(plan.names, row, strict=True))
    for name, convert in plan.converted:
        value = data[name]
        if value is not None:
            data[name] = convert(value)
    instance = model(__no_default__=1)
    instance.__data__ = data
    return instance


def session_from_row(row: Sequence[Any]) -> ChargingSession:
    """A ChargingSession from a `SELECT *`-ordered row (the writer makes one for every
    MeterValues)."""
    fields = ChargingSession._meta.sorted_fields
    return model_from_row(ChargingSession, fields, row, row_plan(fields))


def is_sqlite() -> bool:
    return db_of(ChargingSession).param == "?"


def bucket(n: int) -> int:
    """IN lists and VALUES tables are padded to a power of two, so a few statement texts serve
    every batch size (and stay in SQLite's statement cache)."""
    size = 8
    while size < n:
        size *= 2
    return size


IN_CHUNK = 256


def select_in(model: type[peewee.Model], fields: Sequence[peewee.Field], key: peewee.Field,
              keys: Collection[Any], where: str = "", params: Sequence[Any] = ()
              ) -> list[list[Any]]:
    """The rows (values of `fields`) of `model` whose `key` is one of `keys` and that match
    `where` (SQL over its columns, `{p}` for a placeholder bound from `params`). Written by hand
    and cached per IN-list size, as peewee would build the same query again for every batch.

    On SQLite the rows come back as one JSON value, in one step of one statement: SQLite hands
    the GIL back around every step, and while the event loop is busy each step waits to get it
    again, so a row per step made the writer crawl exactly when the site was busiest (measured:
    200 rows in 0.08 ms alone, 45 ms next to a busy thread). Values are those of SQLite's own
    types, as the driver would give them; the order is not promised."""
    def inner(p: str, in_list: str) -> str:
        cond = f"{col(key)} IN ({in_list})"
        if where:
            cond += f" AND {where.format(p=p)}"
        return f"SELECT {', '.join(col(f) for f in fields)} FROM {table(model)} WHERE {cond}"

    ident = (model, key, where, *map(id, fields))  # fields live as long as their models
    name = _IN_KEYS.get(ident)
    if name is None:
        name = _IN_KEYS[ident] = (f"in:{model._meta.table_name}:"
                                  f"{','.join(f.name for f in fields)}:{key.name}:{where}")
    return query_in(name, len(fields), inner, keys, params)


_IN_KEYS: dict[tuple[Any, ...], str] = {}  # the statement keys of select_in, made once each


class Inner(Protocol):
    """Builds a SELECT from the placeholder and the IN list of placeholders it filters by."""

    def __call__(self, placeholder: str, in_list: str, /) -> str: ...


def query_in(key: str, width: int, inner: Inner, keys: Collection[Any],
             params: Sequence[Any] = ()) -> list[list[Any]]:
    """The rows of the SELECT `inner(placeholder, in_list)` (`width` columns), for every key
    of `keys` in its IN list (bound first, then `params`): `select_in` for any SELECT, e.g. a
    join. Cached per IN-list size; on SQLite the rows come back as one JSON value (see
    `select_in`)."""
    ordered = sorted(set(keys))
    sqlite = is_sqlite()
    out: list[list[Any]] = []
    for i in range(0, len(ordered), IN_CHUNK):
        chunk = ordered[i:i + IN_CHUNK]
        size = bucket(len(chunk))

        def build(p: str, size: int = size) -> str:
            statement = inner(p, ", ".join([p] * size))
            return _as_json(statement, width) if sqlite else statement

        cursor = execute(sql(f"{key}:{size}", build),
                         [*chunk, *[chunk[-1]] * (size - len(chunk)), *params])
        out.extend(_rows(cursor.fetchone()[0]) if sqlite else map(list, cursor.fetchall()))
    return out


def _as_json(statement: str, width: int) -> str:
    """A SELECT of `width` columns as one that gives all its rows as one JSON value (SQLite)."""
    names = ", ".join(f"c{i}" for i in range(width))
    return (f"WITH q({names}) AS ({statement}) "
            f"SELECT json_group_array(json_array({names})) FROM q")


_WRAPPED: dict[str, str] = {}  # a SELECT's text -> `_as_json` of it
WRAPPED_KEPT = 512


def rows(statement: str, params: Sequence[Any], width: int) -> list[list[Any]]:
    """The rows of any SELECT of `width` columns (its text built once by the caller); on SQLite
    as one JSON value, in one step (see `select_in`), in the SELECT's order as SQLite gives
    it (sort again where the order matters: it is not promised)."""
    if not is_sqlite():
        return [list(row) for row in execute(statement, params).fetchall()]
    wrapped = _WRAPPED.get(statement)
    if wrapped is None:
        if len(_WRAPPED) >= WRAPPED_KEPT:
            _WRAPPED.clear()
        wrapped = _WRAPPED[statement] = _as_json(statement, width)
    return _rows(execute(wrapped, params).fetchone()[0])


def _rows(text: str) -> list[list[Any]]:
    """SQLite's JSON array of rows: orjson reads it several times faster than the stdlib, which
    takes what orjson refuses (SQLite writes an infinite real as 9e999)."""
    try:
        return cast("list[list[Any]]", orjson.loads(text))
    except orjson.JSONDecodeError:
        return cast("list[list[Any]]", json.loads(text))


def fetch_in(model: type[M], key: peewee.Field, keys: Collection[Any], where: str = "",
             params: Sequence[Any] = ()) -> list[M]:
    """`select_in` over all of the model's columns, as model instances."""
    fields = model._meta.sorted_fields
    plan = row_plan(fields)
    return [model_from_row(model, fields, row, plan)
            for row in select_in(model, fields, key, keys, where, params)]


def get(model: type[M], key: peewee.Field, value: Any, where: str = "",
        params: Sequence[Any] = ()) -> M | None:
    """The first row whose `key` is `value` (and that matches `where`), or None: `Model.get`
    for the hot paths, with its SQL written once instead of built by peewee on every call
    (a StartTransaction's dozen look-ups cost milliseconds of the writer that way)."""
    found = fetch_in(model, key, [value], where, params)
    return found[0] if found else None


def get_by_id(model: type[M], value: Any) -> M:
    """`Model.get_by_id`, as `get`; raises the model's DoesNotExist like it."""
    # Every model has a primary key; the stubs allow False (a model declared without one).
    found = get(model, cast("peewee.Field[Any]", model._meta.primary_key), value)
    if found is None:
        raise model.DoesNotExist(f"{model.__name__} {value} does not exist")
    return found


def select_session(where: str, params: Sequence[Any]) -> ChargingSession | None:
    """The first session matching `where` (SQL over ChargingSession's columns), or None."""
    def build(p: str) -> str:
        columns = ", ".join(col(f) for f in ChargingSession._meta.sorted_fields)
        return f"SELECT {columns} FROM {table(ChargingSession)} WHERE {where.format(p=p)}"

    row = execute(sql("session:" + where, build), params).fetchone()
    return session_from_row(row) if row is not None else None


def flag_sql(column: str, p: str) -> str:
    """SQL that appends the flag bound twice (`flag`, `,flag`) to a comma-separated column."""
    return f"CASE WHEN {column} = '' THEN {p} ELSE {column} || {p} END"
