"""StatusNotification and MeterValues recorded for a batch of reports from many chargers: a few
statements per batch instead of four or five per report. A single report is a batch of one
(`record_status`, `record_meter_values`), so each rule is written once.

Why: under load every report waited on the database writer, and the writer spent most of its
time not in SQLite but between statements (each one hands the GIL back and waits to get it
again while the event loop runs). A batch must write exactly what its reports would write one
after the other; tests/test_batched.py holds them to that, and the report writer falls back to
batches of one, one savepoint each, should a batch fail.

A batch holds at most one report per charger in practice (a charger waits for each answer), but
nothing here relies on it: reports of one session are applied in their order."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from appliance.charging import metering
from appliance.charging.sessions import (
    ACTIVE_ON,
    LIVE_COLUMNS,
    READING_FIELDS,
    add_flags,
    apply_registers,
    reading_row,
    transaction_id_of,
)
from appliance.charging.stations import STATUS_COLUMNS, status_row
from appliance.db import fastsql, kept_sessions
from appliance.db.fastsql import col, table
from appliance.db.models import (
    ChargingSession,
    Connector,
    MeterReading,
    Station,
    StationNotice,
    StatusEvent,
)

# station id, payload, receipt time (and for MeterValues, optionally its parsed moments)
Report = tuple[Any, ...]
CHUNK = 200  # rows per multi-row statement (SQLite allows 32,766 parameters)
KEEP = True  # keep open sessions between batches on SQLite (tests compare with it off)


def _statement(build: Any, *args: Any) -> str:
    """`build(placeholder, *args)`'s SQL, built once per backend and arguments."""
    key = f"batched:{build.__name__}:" + ":".join(str(a) for a in args)
    return fastsql.sql(key, lambda p: str(build(p, *args)))


def _chunks(rows: Sequence[Any], size: int = CHUNK) -> list[Sequence[Any]]:
    return [rows[i:i + size] for i in range(0, len(rows), size)]


# --- StatusNotification ---------------------------------------------------------------------------
def _connector_upsert(p: str, n: int) -> str:
    names = (col(Connector.station), col(Connector.connector_id),
             *(f'"{c}"' for c in STATUS_COLUMNS), col(Connector.status_at),
             col(Connector.updated_at))
    one = "(" + ", ".join([p] * len(names)) + ")"
    updates = ", ".join(f'{c} = excluded.{c}' for c in names[2:])
    return (f"INSERT INTO {table(Connector)} ({', '.join(names)}) VALUES "
            f"{', '.join([one] * n)} ON CONFLICT ({names[0]}, {names[1]}) DO UPDATE SET "
            f"{updates}")


def _count_update(p: str, n: int) -> str:
    st, st_id = table(Station), f"{table(Station)}.{col(Station.id)}"
    seen = (f"(SELECT COUNT(*) FROM {table(Connector)} WHERE {col(Connector.station)} = {st_id}"
            f" AND {col(Connector.connector_id)} > 0)")
    return (f"UPDATE {st} SET {col(Station.num_connectors)} = {seen} WHERE {col(Station.id)} "
            f"IN ({', '.join([p] * n)}) AND {col(Station.num_connectors)} < {seen}")


def _suspect_update(p: str, n: int) -> str:
    cs = ChargingSession
    pairs = ", ".join([f"({p}, {p})"] * n)
    return (f"UPDATE {table(cs)} SET {col(cs.state)} = 'suspect', {col(cs.flags)} = "
            f"{fastsql.flag_sql(col(cs.flags), p)}, {col(cs.updated_at)} = {p} "
            f"WHERE {col(cs.state)} = 'active' AND ({col(cs.station)}, {col(cs.connector_id)}) "
            f"IN (VALUES {pairs})")


def record_statuses(reports: Sequence[Report]) -> list[None]:
    """StatusNotifications: every report, in order, in a few statements."""
    events: list[tuple[Any, ...]] = []
    latest: dict[tuple[int, Any], tuple[Any, ...]] = {}  # (station, connector) -> last row
    counted: set[int] = set()
    available: dict[tuple[int, int], datetime] = {}
    for station_id, payload, at in reports:
        connector_id = payload.get("connectorId")
        row, charger_time = status_row(payload)
        events.append((station_id, connector_id, *row, charger_time, at))
        latest[(station_id, connector_id)] = (station_id, connector_id, *row,
                                              charger_time or at, at)
        if connector_id and connector_id > 0:
            counted.add(station_id)
            if row[0] == "Available":
                available[(station_id, connector_id)] = at
            else:
                available.pop((station_id, connector_id), None)
    event_fields = (StatusEvent.station, StatusEvent.connector_id,
                    *(getattr(StatusEvent, c) for c in STATUS_COLUMNS),
                    StatusEvent.charger_time, StatusEvent.received_at)
    fastsql.insert_rows(StatusEvent, event_fields, events)
    for piece in fastsql.pieces(list(latest.values())):  # an upsert: no row twice
        fastsql.execute(_statement(_connector_upsert, len(piece)),
                       [v for row in piece for v in row])
    for ids in _chunks(sorted(counted), 256):
        size = fastsql.bucket(len(ids))
        padded = [*ids, *[ids[-1]] * (size - len(ids))]
        fastsql.execute(_statement(_count_update, size), padded)
    if available:
        # Available while a transaction is open: the StopTransaction never came (yet).
        flag = "available_while_open"
        pairs = list(available)
        at = max(available.values())
        for chunk in _chunks(pairs, 256):
            size = fastsql.bucket(len(chunk))
            padded = [*chunk, *[chunk[-1]] * (size - len(chunk))]
            fastsql.execute(_statement(_suspect_update, size),
                           [flag, "," + flag, at, *(v for pair in padded for v in pair)])
    return [None] * len(reports)


# --- MeterValues ----------------------------------------------------------------------------------
def _read_sessions(tx_ids: Sequence[int]) -> dict[int, ChargingSession]:
    fields = ChargingSession._meta.sorted_fields
    return {s.transaction_id: s for s in (
        fastsql.session_from_row(row) for row in fastsql.select_in(
            ChargingSession, fields, ChargingSession.transaction_id, tx_ids))}


def sessions_by_transaction(tx_ids: Sequence[int]) -> dict[int, ChargingSession]:
    """The sessions of these transaction ids (unique across stations), by id: on SQLite those
    the writer kept since its last batch (db/kept_sessions.py) as they are, the others read."""
    kept = kept_sessions.kept() if KEEP else None
    if kept is None:
        return _read_sessions(tx_ids)
    kept.check()
    found: dict[int, ChargingSession] = {}
    missing = []
    for tx in tx_ids:
        session = kept.by_tx.get(tx)
        if session is None:
            missing.append(tx)
        else:
            found[tx] = session
    if missing:
        read = _read_sessions(missing)
        kept.keep(read.values())
        found.update(read)
    return found


def _live_update(p: str, n: int, pg: bool) -> str:
    """One UPDATE of the live columns of `n` sessions from a VALUES table (id first)."""
    cs = ChargingSession
    width = len(LIVE_COLUMNS) + 1
    one = "(" + ", ".join([p] * width) + ")"
    casts = {"BigIntegerField": "bigint", "IntegerField": "integer", "TextField": "text",
             "DateTimeField": "timestamp"}

    def value(i: int, field: Any) -> str:
        # PostgreSQL types a VALUES column by its contents (all NULL: text); say what it is.
        return f"CAST(v.column{i} AS {casts[type(field).__name__]})" if pg else f"v.column{i}"

    sets = ", ".join(f"{col(f)} = {value(i + 2, f)}" for i, f in enumerate(LIVE_COLUMNS))
    return (f"UPDATE {table(cs)} SET {sets} FROM (VALUES {', '.join([one] * n)}) AS v "
            f"WHERE {table(cs)}.{col(cs.id)} = v.column1")


def _save_live_states(sessions: list[ChargingSession]) -> None:
    """Write these sessions' live columns; on SQLite they are kept as written (a session kept
    as another object, found by its connector, is replaced by this one)."""
    pg = not fastsql.is_sqlite()
    kept = kept_sessions.kept() if KEEP else None
    if kept is not None:
        kept.absorb()  # others' changes first: what follows is the kept objects' own
    for chunk in _chunks(sessions, 128):
        size = fastsql.bucket(len(chunk))
        padded = [*chunk, *[chunk[-1]] * (size - len(chunk))]  # the same row again: harmless
        values = [v for s in padded for v in (s.id, *(getattr(s, f.name) for f in LIVE_COLUMNS))]
        fastsql.execute(_statement(_live_update, size, pg), values)
    if kept is not None:
        kept.wrote(sessions)


def record_meter_values_many(reports: Sequence[Report]) -> list[ChargingSession | None]:
    """MeterValues: every report, in order: each report's session (or
    None), with its live state moved on and saved."""
    parsed = []
    for station_id, payload, received, *given in reports:
        moments = given[0] if given and given[0] is not None else \
            metering.parse_moments(payload.get("meterValue"))
        parsed.append((station_id, int(payload["connectorId"]),
                       transaction_id_of(payload), moments, payload, received))
    by_tx = sessions_by_transaction([p[2] for p in parsed if p[2] is not None])
    touched: dict[int, ChargingSession] = {}
    readings: list[tuple[Any, ...]] = []
    out: list[ChargingSession | None] = []
    for station_id, connector_id, tx, moments, payload, received in parsed:
        session: ChargingSession | None = None
        if tx is not None:
            session = by_tx.get(tx)
            if session is not None and session.station_id != station_id:
                session = None
        elif connector_id > 0:
            found = fastsql.select_session(ACTIVE_ON, (station_id, connector_id))
            session = touched.get(found.id, found) if found is not None else None
        readings.extend(reading_row(station_id, connector_id, session.id if session else None,
                                     m, received) for m in moments)
        if session is None:
            if tx is not None:
                StationNotice.create(station=station_id, kind="meter_values_unknown_transaction",
                                     payload=json.dumps(payload), received_at=received)
            out.append(None)
            continue
        flags = apply_registers(session, [s for m in moments for s in m.samples])
        add_flags(session, flags)
        session.updated_at = received
        touched[session.id] = session
        out.append(session)
    fastsql.insert_rows(MeterReading, READING_FIELDS, readings)
    _save_live_states(list(touched.values()))
    return out


def record_status(station_id: int, payload: dict[str, Any], at: datetime) -> None:
    """One StatusNotification: a batch of one (one implementation of the rule)."""
    record_statuses([(station_id, payload, at)])


def record_meter_values(station_id: int, payload: dict[str, Any], received: datetime,
                        moments: list[metering.Moment] | None = None
                        ) -> ChargingSession | None:
    """Store one MeterValues (`moments`: its meterValue parsed already, if it was) and move an
    open session's live state: a batch of one. Returns that session, if any."""
    return record_meter_values_many([(station_id, payload, received, moments)])[0]
