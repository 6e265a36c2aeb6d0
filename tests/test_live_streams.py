"""Live pages' streams at a busy site: each takes only the events it shows. At 10,000 chargers
some 2,500 events a second are published; a driver's start page or live session page woke for
every one of them (to drop all but its charger's), and a staff page's stream wrote each one
alone. Against the real app on 127.0.0.1, real HTTP clients reading the streams."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.events import ConnectorStatus, SessionMeter
from tests.conftest import Api, add_station
from tests.driver_fixtures import driver_with_pin, phone, site_with_charger
from tests.staff_client import staff_client

AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _meter(session: int, cpid: str) -> SessionMeter:
    return SessionMeter(session_id=session, station_id=cpid, connector_id=1, energy_wh=100,
                        power_w=7000, at=AT)


def _status(cpid: str, status: str = "Charging") -> ConnectorStatus:
    return ConnectorStatus(station_id=cpid, connector_id=1, status=status,
                           error_code="NoError", at=AT)


async def test_a_driver_s_live_pages_take_only_their_charger_s_events(
        server: TestServer, api: Api, charger: Any) -> None:
    await site_with_charger(api, "LIVE-A")
    await add_station(api, "LIVE-B")
    await driver_with_pin(server, api, "+91 90000 00091", balance=20_000)
    bus = server.app[keys.EVENTS]
    other, own = _meter(1, "LIVE-B"), _status("LIVE-A")
    before = bus.takers(other), bus.takers(own)
    async with charger("LIVE-A", "secret-pass-1") as cp, phone(server) as p:
        await cp.boot()
        await cp.status(1, "Available")
        await p.login("9000000091")
        _, _, live = await p.start("LIVE-A", 1)
        async with p.session.get(p.url("/c/LIVE-A/1/events")) as line_page, \
                p.session.get(p.url(live + "/events")) as live_page:
            for stream in (line_page, live_page):  # each has sent its first state: subscribed
                assert (await asyncio.wait_for(stream.content.readline(), 5)).startswith(b"data:")
            # Another charger's meter values wake neither page; their own charger's status both.
            assert (bus.takers(other), bus.takers(own)) == (before[0], before[1] + 2)


async def _events(stream: Any, until: str) -> list[dict[str, Any]]:
    """The stream's events up to the first of type `until`."""
    out: list[dict[str, Any]] = []
    while not out or out[-1]["type"] != until:
        line = (await asyncio.wait_for(stream.content.readline(), 10)).decode()
        if line.startswith("data: "):
            out.append(json.loads(line[6:]))
    return out


async def test_a_staff_stream_keeps_a_burst_of_a_busy_site(server: TestServer) -> None:
    """A thousand running sessions report at once (one batch of the writer at 10,000
    chargers), then a status changes: the dashboard's stream gets every session's figures and
    the status. It kept 256 events: the oldest 745 sessions' figures were lost."""
    bus = server.app[keys.EVENTS]
    async with staff_client(server) as staff, \
            staff.session.get(staff.url("/events")) as stream:
        bus.publish(_status("BURST-0", "Preparing"))  # the stream is open once this comes
        assert [e["status"] for e in await _events(stream, "ConnectorStatus")] == ["Preparing"]
        for session in range(1, 1001):
            bus.publish(_meter(session, f"BURST-{session}"))
        bus.publish(_status("BURST-0"))
        got = await _events(stream, "ConnectorStatus")
    assert [e["session_id"] for e in got[:-1]] == list(range(1, 1001))
    assert got[-1]["status"] == "Charging"
