"""A model's `save` through SQL written once per model and set of columns: peewee builds the
same INSERT or UPDATE again on every call, and on the writer thread that was a quarter of a
StartTransaction's and a StopTransaction's time. `BaseModel.save` calls it; what it writes is
what peewee writes (rows, ids, row counts, dirty state: tests/test_batched.py holds it to that)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from peewee import Node

_SAVE_SQL: dict[tuple[Any, ...], str] = {}  # (model, update?, columns, placeholder) -> SQL


def _save_sql(meta: Any, fields: list[Any], updating: bool, database: Any) -> str:
    """The INSERT or UPDATE (by primary key) of these columns, as peewee writes it."""
    p, table = database.param, f'"{meta.table_name}"'
    if updating:
        sets = ", ".join(f'"{f.column_name}" = {p}' for f in fields)
        return (f'UPDATE {table} SET {sets} WHERE ({table}."{meta.primary_key.column_name}" '
                f"= {p})")
    columns = ", ".join(f'"{f.column_name}"' for f in fields)
    statement = f"INSERT INTO {table} ({columns}) VALUES ({', '.join([p] * len(fields))})"
    if database.returning_clause:
        statement += f' RETURNING "{meta.primary_key.column_name}"'
    return statement


def save(model: Any, force_insert: bool, only: Any, peewee_save: Callable[..., Any]) -> Any:
    """Save `model` (peewee's private state is read, hence Any) as peewee would; anything
    unusual (an insert of some fields only, an expression as a value, a model without a single
    primary key) goes to peewee's own `peewee_save`."""
    meta = model._meta
    pk_field = meta.primary_key
    if pk_field is False or meta.composite_key:
        return peewee_save(force_insert, only)
    pk_value = model._pk
    data = model.__data__
    updating = pk_value is not None and not force_insert
    if updating:
        names = model._dirty if only is None else {
            f if isinstance(f, str) else f.name for f in only}
        if pk_field.name in names or (only is None and not meta.only_save_dirty):
            return peewee_save(force_insert, only)
        field_dict = {f.name: data[f.name] for f in meta.sorted_fields
                      if f.name in names and f.name in data}
        if not field_dict:
            model._dirty.clear()
            return False
    elif only is not None:
        return peewee_save(force_insert, only)
    else:
        field_dict = dict(data)
        if meta.auto_increment and pk_value is None:
            field_dict.pop(pk_field.name, None)
    model._populate_unsaved_relations(field_dict)
    if not field_dict or any(isinstance(v, Node) for v in field_dict.values()):
        return peewee_save(force_insert, only)
    database = meta.database
    fields = [meta.fields[name] for name in field_dict]
    values = [f.db_value(field_dict[f.name]) for f in fields]
    key = (type(model), updating, tuple(field_dict), database.param)
    statement = _SAVE_SQL.get(key)
    if statement is None:
        statement = _SAVE_SQL[key] = _save_sql(meta, fields, updating, database)
    if updating:
        cursor = database.execute_sql(statement, [*values, pk_field.db_value(pk_value)])
        rows = database.rows_affected(cursor)
    else:
        cursor = database.execute_sql(statement, values)
        rows = 1
        pk = cursor.fetchone()[0] if database.returning_clause \
            else database.last_insert_id(cursor)
        if pk is not None and (meta.auto_increment or pk_value is None):
            model._pk = pk
            model._dirty.discard(pk_field.name)
    model._dirty -= set(field_dict)
    return rows
