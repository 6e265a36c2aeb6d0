"""Issue 15, point 7: sessions a charger left open (no StopTransaction after a power cut, or a
start we refused and it never stopped) neither lock their card out nor run on; a late
StopTransaction still corrects the charge, once."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.charger import ws_url
from tests.conftest import Api, add_station, basic_auth
from tests.driver_fixtures import ledger_true
from tests.money_fixtures import account, driver_with_card, site_tariff
from tests.test_ocpp_errors import RawCharger


@contextlib.asynccontextmanager
async def raw_charger(server: TestServer, api: Api, cpid: str) -> AsyncIterator[RawCharger]:
    await add_station(api, cpid, "secret-pass-1")
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url(server, cpid), protocols=("ocpp1.6",),
                                      headers={"Authorization": basic_auth(cpid,
                                                                           "secret-pass-1")}
                                      ) as ws:
            charger = RawCharger(ws)
            boot = await charger.call("BootNotification", {"chargePointVendor": "V",
                                                           "chargePointModel": "M"})
            assert boot[2]["status"] == "Accepted"
            yield charger


async def _start(cp: RawCharger, tag: str, meter: int, ts: str, connector: int = 1
                 ) -> tuple[int, str]:
    answer = await cp.call("StartTransaction", {"connectorId": connector, "idTag": tag,
                                                "meterStart": meter, "timestamp": ts})
    assert answer[0] == 3, answer
    return int(answer[2]["transactionId"]), str(answer[2]["idTagInfo"]["status"])


async def _status(cp: RawCharger, status: str, connector: int = 1) -> None:
    answer = await cp.call("StatusNotification", {"connectorId": connector,
                                                  "errorCode": "NoError", "status": status})
    assert answer[0] == 3, answer


async def _session(api: Api, cpid: str, tx: int) -> dict[str, Any]:
    items = (await api.get(f"/sessions?station_id={cpid}"))["items"]
    match = [s for s in items if s["transaction_id"] == tx]
    assert len(match) == 1
    return dict(await api.get(f"/sessions/{match[0]['id']}"))


@pytest.fixture
async def money(api: Api) -> dict[str, Any]:
    await site_tariff(api)
    return await driver_with_card(api, "CARD1", balance=100_000)


async def test_a_new_start_supersedes_the_open_session(server: TestServer, api: Api,
                                                       money: dict[str, Any]) -> None:
    async with raw_charger(server, api, "CUT-1") as cp:
        tx1, status = await _start(cp, "CARD1", 1000, "2026-11-25T10:00:00Z")
        assert status == "Accepted"
        await cp.call("MeterValues", {"connectorId": 1, "transactionId": tx1, "meterValue": [
            {"timestamp": "2026-11-25T10:30:00Z", "sampledValue": [{"value": "3000"}]}]})
        # Power cut: the charger reboots and never sends StopTransaction for tx1.
        await cp.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        tx2, status = await _start(cp, "CARD1", 3000, "2026-11-25T12:00:00Z")
        assert status == "Accepted"  # not ConcurrentTx: the old session is over
        old = await _session(api, "CUT-1", tx1)
        assert old["state"] == "completed" and "superseded" in old["flags"]
        assert old["energy_wh"] == 2000
        assert (await account(api, money["id"]))["balance"] == 100_000 - 4000
        # Its StopTransaction arrives late: applied once, the charge corrected.
        stop = {"transactionId": tx1, "meterStop": 5000, "timestamp": "2026-11-25T11:00:00Z"}
        for _ in range(2):
            assert (await cp.call("StopTransaction", stop))[0] == 3
        old = await _session(api, "CUT-1", tx1)
        assert old["energy_wh"] == 4000
        assert (await account(api, money["id"]))["balance"] == 100_000 - 8000
    await ledger_true(server)


async def test_concurrent_tx_only_when_really_charging_elsewhere(
        server: TestServer, api: Api, money: dict[str, Any]) -> None:
    async with raw_charger(server, api, "SITE-A") as a, raw_charger(server, api, "SITE-B") as b:
        tx_a, status = await _start(a, "CARD1", 0, "2026-11-25T10:00:00Z")
        await _status(a, "Charging")
        assert status == "Accepted"
        tx_b, status = await _start(b, "CARD1", 0, "2026-11-25T10:05:00Z")
        assert status == "ConcurrentTx"  # it really is charging at SITE-A
        # SITE-B's simulator never stops the start we refused: it must not lock the card.
        await _status(a, "Available")  # SITE-A's connector is free: nothing charges there
        tx_b2, status = await _start(b, "CARD1", 0, "2026-11-25T10:10:00Z", connector=2)
        assert status == "Accepted"
    async with raw_charger(server, api, "SITE-C") as c:
        # SITE-B is offline now: its open session charges nothing that we can know of.
        _, status = await _start(c, "CARD1", 0, "2026-11-25T10:20:00Z")
        assert status == "Accepted"
    assert tx_a and tx_b and tx_b2


async def test_energy_beyond_the_chargers_power_is_flagged_not_billed(
        server: TestServer, api: Api, money: dict[str, Any]) -> None:
    async with raw_charger(server, api, "AC22-1") as cp:
        station = await api.patch("/stations/AC22-1", {"max_power_w": 22_000})
        assert station["max_power_w"] == 22_000
        tx, _ = await _start(cp, "CARD1", 100, "2026-11-25T10:00:00Z")
        for at, wh in (("10:00:10", "150"), ("10:00:15", "180")):
            await cp.call("MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [
                {"timestamp": f"2026-11-25T{at}Z", "sampledValue": [{"value": wh}]}]})
        # 3,210 Wh in 19 s: about 600 kW from a 22 kW charger.
        stop = await cp.call("StopTransaction", {"transactionId": tx, "meterStop": 3310,
                                                 "timestamp": "2026-11-25T10:00:19Z"})
        assert stop[0] == 3
        session = await _session(api, "AC22-1", tx)
        assert "implausible_energy" in session["flags"]
        assert session["energy_wh"] == 30  # billed from the samples, as a suspect session
        assert (await account(api, money["id"]))["balance"] == 100_000 - 60  # 0.03 kWh at 20
    await ledger_true(server)


async def test_an_available_connector_ends_its_open_session_after_a_grace(
        server: TestServer, api: Api, money: dict[str, Any]) -> None:
    from appliance import keys
    from appliance.billing.closing import close_stale
    from appliance.db.models import ChargingSession, Connector, utcnow

    database = server.app[keys.DATABASE]
    async with raw_charger(server, api, "IDLE-1") as cp:
        tx, _ = await _start(cp, "CARD1", 1000, "2026-11-25T10:00:00Z")
        await cp.call("MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [
            {"timestamp": "2026-11-25T10:30:00Z", "sampledValue": [{"value": "2000"}]}]})
        await _status(cp, "Available")  # and no StopTransaction ever comes
    assert await database.run(close_stale, utcnow(), 48) == 0  # within the grace: waits

    def age() -> None:  # the session began an hour ago; Available came 20 minutes ago
        ChargingSession.update(started_at=utcnow() - timedelta(hours=1)).execute()
        Connector.update(status_at=utcnow() - timedelta(minutes=20)).execute()

    await database.run(age)
    assert await database.run(close_stale, utcnow(), 48) == 1
    session = await _session(api, "IDLE-1", tx)
    assert session["state"] == "completed" and "superseded" in session["flags"]
    assert (await account(api, money["id"]))["balance"] == 100_000 - 2000  # 1 kWh at 20
    await ledger_true(server)
