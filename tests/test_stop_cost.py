"""A StopTransaction's database work does not grow with its session's samples (issue 24, goal
4, which bench/growth.py measures for MeterValues): the stop's look-up of the newest register
reading is one probe of the (session, timestamp) index, not a walk over the session's samples
(a MAX that SQLite cannot take from the index end, e.g. over an expression, walks all of them:
30,501 steps against 800 here). Counted as SQLite's virtual machine steps on the writer's
connection (a progress handler), not as time: the same on any machine."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.db.models import ChargingSession, MeterReading, Station, utcnow
from tests.conftest import Api, add_station
from tests.money_fixtures import driver_with_card, site_tariff

SAMPLES = 3000  # a long session: over eight hours of a reading every ten seconds


def _samples(station_id: int, connector_id: int, session_id: int, n: int) -> None:
    start = utcnow() - timedelta(seconds=10 * n + 60)
    rows = [{"station_id": station_id, "connector_id": connector_id, "session": session_id,
             "timestamp": start + timedelta(seconds=10 * i), "received_at": start,
             "context": "Sample.Periodic", "energy_wh": 1000 + 5 * i, "power_w": 1800,
             "sampled": "[]"} for i in range(n)]
    for k in range(0, n, 500):
        MeterReading.insert_many(rows[k:k + 500]).execute()


def _station_id(cpid: str) -> int:
    return int(Station.get(Station.cpid == cpid).id)


def _sessions(station_id: int) -> list[tuple[int, int]]:
    """Its sessions' ids by connector."""
    return [(s.connector_id, s.id) for s in
            ChargingSession.select().where(ChargingSession.station == station_id)]


async def test_a_stops_work_does_not_grow_with_its_sessions_samples(
        server: TestServer, api: Api, charger: Any) -> None:
    database = server.app[keys.DATABASE]
    if not database.is_sqlite:
        pytest.skip("counts SQLite's virtual machine steps (apsw's progress handler)")
    await add_station(api, "GROW-1")
    await site_tariff(api)
    await driver_with_card(api, "GROWA", balance=1_000_000)
    await driver_with_card(api, "GROWB", balance=1_000_000)
    steps = [0]

    def count() -> bool:
        steps[0] += 1
        return False  # go on

    def counting(on: bool) -> None:
        database.db.connection().set_progress_handler(count if on else None, 1)

    async with charger("GROW-1", "secret-pass-1") as cp:
        await cp.boot()
        short = (await cp.start_tx(1, "GROWA", meter_start=1000)).transaction_id
        long = (await cp.start_tx(2, "GROWB", meter_start=1000)).transaction_id
        station_id = await database.read(_station_id, "GROW-1")
        sessions = dict(await database.read(_sessions, station_id))
        await database.run(_samples, station_id, 1, sessions[1], 10)
        await database.run(_samples, station_id, 2, sessions[2], SAMPLES)
        spent = {}
        for name, tx, n in (("short", short, 10), ("long", long, SAMPLES)):
            await database.run(counting, True)
            steps[0] = 0
            await cp.stop(tx, meter_stop=1000 + 5 * n + 5)
            await database.run(counting, False)
            spent[name] = steps[0]
    # Some 500-800 steps either way; a walk over the long session's samples is ten a sample.
    assert spent["long"] < spent["short"] + 5 * SAMPLES, spent
