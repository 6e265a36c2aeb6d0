"""Issue 15, point 9: statistics and flags from replays. Refused starts are counted apart from
sessions, flags judge by the charger's own (plausible) times, and a replay reaches the figures of
a day already computed, even one from before the station was first seen."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.reports.nightly import catch_up, local_today, run_day
from appliance.reports.stats import compute_day
from tests.charger import ws_url
from tests.conftest import Api, add_station, basic_auth
from tests.test_hardening_sessions import _session, _start, raw_charger
from tests.test_ocpp_errors import RawCharger


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_refused_starts_are_no_sessions_of_the_day(server: TestServer, api: Api) -> None:
    await api.post("/cards", {"id_tag": "KNOWN1"})
    yesterday = datetime.now(UTC) - timedelta(days=1)
    async with raw_charger(server, api, "REF-1") as cp:
        await _start(cp, "KNOWN1", 0, _ts(datetime.now(UTC) - timedelta(minutes=5)))
        _, status = await _start(cp, "NOBODY9", 0, _ts(datetime.now(UTC)), connector=2)
        assert status == "Invalid"
    settings = server.app[keys.SETTINGS]
    rows = await server.app[keys.DATABASE].read(compute_day, local_today(settings.tz),
                                                settings.tz)
    whole = next(r for r in rows if r.connector_id == 0)
    assert (whole.sessions, whole.drivers, whole.refused) == (1, 1, 1)
    assert yesterday


async def test_available_replayed_before_the_stop_is_judged_by_the_chargers_times(
        server: TestServer, api: Api) -> None:
    await api.post("/cards", {"id_tag": "KNOWN2"})
    await add_station(api, "REP-1", "secret-pass-1")
    now = datetime.now(UTC)
    async with aiohttp.ClientSession() as http:
        cp = await _connect_without_boot(server, http, "REP-1")  # a network outage, no reboot
        tx, _ = await _start(cp, "KNOWN2", 0, _ts(now - timedelta(minutes=10)))
        # Back from the outage: the queued Available comes before the queued stop.
        await cp.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                             "status": "Available",
                                             "timestamp": _ts(now - timedelta(minutes=1))})
        await cp.call("StopTransaction", {"transactionId": tx, "meterStop": 500,
                                          "timestamp": _ts(now - timedelta(minutes=2))})
        await cp.ws.close()
    session = await _session(api, "REP-1", tx)
    assert "available_while_open" not in session["flags"], session["flags"]
    assert session["state"] == "completed"


async def _connect_without_boot(server: TestServer, session: aiohttp.ClientSession,
                                cpid: str) -> RawCharger:
    # An offline charger coming back without rebooting: its queued messages carry its times.
    ws = await session.ws_connect(ws_url(server, cpid), protocols=("ocpp1.6",),
                                  headers={"Authorization": basic_auth(cpid, "secret-pass-1")})
    return RawCharger(ws)


async def test_a_replay_reaches_a_day_already_computed(server: TestServer, api: Api) -> None:
    await api.post("/cards", {"id_tag": "KNOWN3"})
    await add_station(api, "LATE-1", "secret-pass-1")  # first seen today
    database, settings = server.app[keys.DATABASE], server.app[keys.SETTINGS]
    yesterday = local_today(settings.tz) - timedelta(days=1)
    await run_day(database, settings, yesterday, mail=False)
    noon = datetime.combine(yesterday, datetime.min.time()).replace(
        hour=12, tzinfo=settings.tz).astimezone(UTC)
    async with aiohttp.ClientSession() as session:
        cp = await _connect_without_boot(server, session, "LATE-1")
        start = await cp.call("StartTransaction", {"connectorId": 1, "idTag": "KNOWN3",
                                                   "meterStart": 1000, "timestamp": _ts(noon)})
        tx = start[2]["transactionId"]
        await cp.call("StopTransaction", {"transactionId": tx, "meterStop": 4000,
                                          "timestamp": _ts(noon + timedelta(hours=1))})
        await cp.ws.close()
    assert [d.day for d in await catch_up(database, settings)] == [yesterday]

    def stored() -> list[Any]:
        from appliance.db.models_reports import DailyStat

        return [(r.connector_id, r.sessions, r.energy_wh) for r in DailyStat.select().where(
            DailyStat.day == yesterday).order_by(DailyStat.connector_id)]

    assert (0, 1, 3000) in await database.read(stored)
    assert await catch_up(database, settings) == []  # once, not every hour
    assert json.dumps(str(yesterday))
