"""What the dashboard reads on each load of a big site (issue 24, goal 3): one page of chargers,
never every charger's rank (each row a reader fetches waits for the GIL while the event loop and
the writer are busy), and the day's sums kept a few seconds from a size on."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.billing import authorize
from appliance.charging import admin
from appliance.db.models import ChargingSession, Connector, Station, utcnow
from appliance.reports.overview import PER_PAGE
from appliance.reports.overview import dashboard as dashboard_data
from appliance.web.admin import dashboard
from appliance.web.admin.kept import Kept

TZ = ZoneInfo("Asia/Kolkata")


def _stations(n: int) -> None:
    for i in range(n):
        admin.create_station(f"ROWS-{i:04d}", {"description": f"Bay {i}"})


def _start(cpid: str, connector: int) -> None:
    station_id = Station.get(Station.cpid == cpid).id
    now = utcnow()
    payload = {"connectorId": connector, "idTag": f"TAG-{cpid}-{connector}", "meterStart": 0,
               "timestamp": (now - timedelta(seconds=1)).isoformat() + "Z"}
    authorize.start_transaction(station_id, payload, json.dumps(payload), now, 300, [])


def _rows_fetched(fn: Any, *args: Any) -> tuple[Any, int]:
    """`fn(*args)` on this reader's connection, and how many rows SQLite handed to Python."""
    conn = Station._meta.database.connection()
    fetched = 0

    def count(_cursor: Any, row: Any) -> Any:
        nonlocal fetched
        fetched += 1
        return row

    conn.row_trace = count
    try:
        return fn(*args), fetched
    finally:
        conn.row_trace = None


async def test_the_dashboard_reads_one_page_of_chargers_not_every_charger(
        server: TestServer) -> None:
    database = server.app[keys.DATABASE]
    if not database.is_sqlite:
        pytest.skip("counts the rows SQLite hands to Python (apsw's row trace)")
    site = 4 * PER_PAGE
    await database.run(_stations, site)
    data, fetched = await database.read(_rows_fetched, dashboard_data, None, "", "", 2)
    assert data.overview.counts["all"] == site
    assert len(data.overview.stations) == PER_PAGE and data.overview.pages == 4
    assert data.overview.stations[0].id == f"ROWS-{PER_PAGE:04d}"
    # One page's chargers and their connectors, a few counts: not the site's every charger.
    assert fetched < site, f"{fetched} rows for a page of {PER_PAGE} of {site} chargers"


def _connectors(cpids: list[str]) -> None:
    for cpid in cpids:
        station_id = Station.get(Station.cpid == cpid).id
        for connector in (1, 2):
            Connector.create(station=station_id, connector_id=connector, status="Charging")


def _charging_everywhere(cpids: list[str]) -> None:
    for cpid in cpids:
        for connector in (1, 2):
            _start(cpid, connector)


async def test_the_pages_running_sessions_come_in_one_row(server: TestServer) -> None:
    """A page's running sessions (and "Charging now") come as one row each read: each row a
    reader fetches waits for the GIL beside a busy loop and writer, and peewee made a model of
    every column of each (before: a row per session, 116 more for a page of 48 chargers with
    two sessions each, and some 40% of the dashboard's read at 10,000 chargers)."""
    database = server.app[keys.DATABASE]
    if not database.is_sqlite:
        pytest.skip("counts the rows SQLite hands to Python (apsw's row trace)")
    cpids = [f"ROWS-{i:04d}" for i in range(PER_PAGE)]
    await database.run(_stations, PER_PAGE)
    await database.run(_connectors, cpids)
    _, before = await database.read(_rows_fetched, dashboard_data, None, "", "", 1)
    await database.run(_charging_everywhere, cpids)
    data, after = await database.read(_rows_fetched, dashboard_data, None, "", "", 1)
    shown = [c for st in data.overview.stations for c in st.connectors]
    assert len(shown) == 2 * PER_PAGE and all(c.session_id and c.id_tag for c in shown)
    assert data.active == 2 * PER_PAGE and len(data.charging) == 20
    # What the sessions bring: "Charging now"'s 10 chargers and their 20 connectors, and the
    # sessions in a row or two; not a row per session (146 rows before: 96 + 20 more).
    assert after - before < 2 * PER_PAGE, (before, after)


def _drawing(cpid: str, connector: int, power_w: int) -> None:
    station_id = Station.get(Station.cpid == cpid).id
    (ChargingSession.update(power_w=power_w)
     .where((ChargingSession.station == station_id) & (ChargingSession.connector_id == connector)
            & (ChargingSession.state == "active")).execute())


async def test_a_small_sites_sums_are_read_on_every_load(server: TestServer) -> None:
    database = server.app[keys.DATABASE]
    figures = dashboard.TodayFigures()
    await database.run(_stations, 2)
    await database.run(_start, "ROWS-0000", 1)
    await database.run(_drawing, "ROWS-0000", 1, 7_400)
    sums = await figures.sums_today(database, TZ, None)
    assert (sums.sessions, sums.drawing_w) == (1, 7_400)
    await database.run(_start, "ROWS-0001", 1)
    await database.run(_drawing, "ROWS-0001", 1, 11_000)
    sums = await figures.sums_today(database, TZ, None)
    assert (sums.sessions, sums.drawing_w) == (2, 18_400)  # at once


async def test_a_big_sites_sums_are_kept_and_read_again_behind_the_page(
        server: TestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard, "KEEP_SUMS_FROM", 2)  # "big": two sessions a day
    database = server.app[keys.DATABASE]
    figures = dashboard.TodayFigures()
    await database.run(_stations, 3)
    await database.run(_start, "ROWS-0000", 1)
    assert (await figures.sums_today(database, TZ, None)).sessions == 1  # small: not kept
    await database.run(_start, "ROWS-0001", 1)
    assert (await figures.sums_today(database, TZ, None)).sessions == 2  # now kept
    await database.run(_start, "ROWS-0002", 1)
    await database.run(_drawing, "ROWS-0002", 1, 3_700)
    # fresh: as kept (the power drawn too: a big site's is a sum over every running session)
    assert (await figures.sums_today(database, TZ, None)).sessions == 2
    assert (await figures.sums_today(database, TZ, None)).drawing_w == 0
    figures.sums.fresh_s = 0.0  # the kept one is stale now: shown once more, the next read
    assert (await figures.sums_today(database, TZ, None)).sessions == 2
    refresh = figures.sums.refreshing((TZ.key, None))
    assert refresh is not None
    await refresh
    figures.sums.fresh_s = 60.0
    sums = await figures.sums_today(database, TZ, None)
    assert (sums.sessions, sums.drawing_w) == (3, 3_700)


async def test_kept_figures_fresh_stale_too_old_and_of_another_day() -> None:
    reads, now = 0, [100.0]

    async def read() -> int:
        nonlocal reads
        reads += 1
        return reads

    kept: Kept[int] = Kept(fresh_s=5.0, stale_s=60.0, clock=lambda: now[0])
    assert await kept.get("k", "d1", read) == 1
    now[0] += 5.0
    assert await kept.get("k", "d1", read) == 1 and reads == 1  # fresh
    assert kept.refreshing("k") is None
    now[0] += 1.0
    assert await kept.get("k", "d1", read) == 1  # stale: shown, the next one read behind
    task = kept.refreshing("k")
    assert task is not None
    assert await kept.get("k", "d1", read) == 1 and kept.refreshing("k") is task  # one read
    await task
    assert reads == 2 and await kept.get("k", "d1", read) == 2 and kept.refreshing("k") is None
    now[0] += 61.0
    assert await kept.get("k", "d1", read) == 3  # too old: waited for
    assert await kept.get("k", "d2", read) == 4  # another day: waited for
    assert await kept.get("other", "d2", read) == 5  # each key its own
    # Concurrent loads with nothing kept: one read, the others take its figure.
    fresh: Kept[int] = Kept(fresh_s=10.0, clock=lambda: now[0])
    assert await asyncio.gather(*(fresh.get("k", "d", read) for _ in range(5))) == [6] * 5
    assert reads == 6
    # Not worth keeping: read on every load.
    never: Kept[int] = Kept(fresh_s=10.0, worth_keeping=lambda _: False)
    assert [await never.get("k", "d", read) for _ in range(3)] == [7, 8, 9]
