"""The SQLite writer keeps open sessions between MeterValues batches (db/kept_sessions.py): a
batch does not read its sessions again, and what it writes is exactly what it writes reading
them each time, whatever else changed them meanwhile: another statement of the writer, a commit
of another connection, a rolled-back batch, a stop and a new start on the connector.

SQLite only: on PostgreSQL nothing is kept (several processes write the sessions)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import apsw
import pytest

from appliance.app import open_database
from appliance.billing import authorize as auth
from appliance.charging import batched, sessions
from appliance.db import fastsql
from appliance.db.models import ChargingSession
from tests.test_batched import STATIONS, T0, _ocpp_time, _side, _snapshot

CLOCK = sessions.Clock(skew_limit_s=300, last_boot_at=None)


class _Undo(Exception):
    """Raised inside a batch's savepoint to roll it back."""


def _meter(station_id: int, connector: int, tx: int, register: int, at: datetime
           ) -> tuple[Any, ...]:
    return (station_id, {"connectorId": connector, "transactionId": tx, "meterValue": [
        {"timestamp": _ocpp_time(at), "sampledValue": [
            {"value": str(register), "unit": "Wh"},
            {"value": str(3700 + register % 7), "measurand": "Power.Active.Import",
             "unit": "W"}]}]}, at)


def _sqlite_only(database: Any) -> None:
    if not database.is_sqlite:
        database.db.close()
        pytest.skip("sessions are kept on SQLite only")


@pytest.mark.parametrize("seed", [1, 2])
def test_kept_sessions_write_what_reading_them_writes(make_settings: Any, seed: int) -> None:
    database = open_database(make_settings())
    _sqlite_only(database)
    db = database.db
    path = db.database

    def side(prefix: str, keep: bool) -> list[Any]:
        ids, txs = _side(prefix)
        rng = random.Random(seed)
        register = {(s, c): 1000 for s in ids for c in (1, 2)}
        for step in range(40):
            at = T0 + timedelta(minutes=step + 1)
            batched.KEEP = keep
            try:
                for s in ids:
                    for c in (1, 2):
                        register[(s, c)] += rng.choice((0, 90, 400))
                event = rng.random()
                # A batch that is rolled back carries a register far ahead: kept, it would make
                # the next batch's register go backwards.
                ahead = 100_000 if event < 0.15 else 0
                reports = [_meter(s, c, txs[s][c - 1], register[(s, c)] + ahead, at)
                           for s in ids for c in (1, 2)]
                if event < 0.08:  # rolled back: nothing of this batch is kept, in memory either
                    with pytest.raises(_Undo), db.atomic():
                        auth.meter_values_many(reports)
                        raise _Undo
                elif event < 0.15:  # its savepoint rolled back, the transaction committed
                    with db.atomic():
                        with pytest.raises(_Undo), db.atomic():
                            auth.meter_values_many(reports)
                            raise _Undo
                else:
                    with db.atomic():
                        auth.meter_values_many(reports)
                s = rng.choice(ids)
                c = rng.choice((1, 2))
                tx = txs[s][c - 1]
                session = ChargingSession.get(ChargingSession.transaction_id == tx)
                if event < 0.3:  # another statement of this connection
                    with db.atomic():
                        sessions.mark_flag(session.id, f"seen_{step}")
                elif event < 0.45:  # another connection's commit
                    other = apsw.Connection(path)
                    other.execute("PRAGMA busy_timeout=10000")
                    other.execute(f'UPDATE "{ChargingSession._meta.table_name}" SET '
                                  '"energy_wh" = "energy_wh" + 7, "flags" = ? WHERE "id" = ?',
                                  (f"other_{step}", session.id))
                    other.close()
                elif event < 0.6:  # stopped, and a new transaction on the connector
                    with db.atomic():
                        sessions.record_stop(s, {
                            "transactionId": tx, "meterStop": register[(s, c)],
                            "timestamp": _ocpp_time(at), "idTag": "T"}, "{}", at, CLOCK,
                            22_000)
                        new, _ = sessions.record_start(s, {
                            "connectorId": c, "idTag": f"T{step}", "meterStart":
                            register[(s, c)], "timestamp": _ocpp_time(at)}, "{}", at, CLOCK,
                            "Accepted", [])
                    txs[s][c - 1] = new.transaction_id
            finally:
                batched.KEEP = True
        return _snapshot(ids)

    db.connect(reuse_if_open=True)  # each batch its own transaction, as on the writer
    kept_side = side("KEPT", True)
    read_side = side("READ", False)
    db.close()
    assert sum(len(station[4]) for station in kept_side) >= 40 * STATIONS  # readings written
    assert any("other_" in s[2] for station in kept_side for s in station[3])
    assert any("seen_" in s[2] for station in kept_side for s in station[3])
    assert kept_side == read_side


def test_a_kept_session_is_not_read_again(make_settings: Any) -> None:
    """The second batch of the same sessions reads none of them (apsw's statement trace)."""
    database = open_database(make_settings())
    _sqlite_only(database)
    db = database.db
    table = f'FROM "{ChargingSession._meta.table_name}"'

    def run() -> list[int]:
        ids, txs = _side("TRACE")
        reads: list[int] = []
        conn = db.connection()

        def trace(_cursor: Any, sql: str, _bindings: Any) -> bool:
            if sql.lstrip().upper().startswith(("SELECT", "WITH")) and table in sql:
                reads[-1] += 1
            return True

        conn.exec_trace = trace
        try:
            for step in range(3):
                at = T0 + timedelta(minutes=step + 1)
                reads.append(0)
                with db.atomic():
                    found = auth.meter_values_many(
                        [_meter(s, c, txs[s][c - 1], 2000 + 100 * step, at)
                         for s in ids for c in (1, 2)])
                assert all(session is not None for session, _stop in found)
        finally:
            conn.exec_trace = None
        return reads

    db.connect(reuse_if_open=True)
    reads = run()
    db.close()
    assert reads[0] >= 1  # the first batch reads its sessions
    assert reads[1:] == [0, 0]


def test_postgresql_keeps_nothing(make_settings: Any) -> None:
    database = open_database(make_settings())
    if database.is_sqlite:
        database.db.close()
        pytest.skip("the PostgreSQL side of the rule")

    def run() -> bool:
        from appliance.db import kept_sessions

        return kept_sessions.kept() is None and not fastsql.is_sqlite()

    assert database.run_sync(run)
    database.db.close()
