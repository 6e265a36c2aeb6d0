"""Issue 15, chargers and their frames: a wrong password from elsewhere never locks a real charger
out, odd frames get the spec's treatment, connector ids are bounded and out-of-range numbers
never strand a session."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.charger import ws_url
from tests.conftest import Api, add_station, basic_auth, eventually
from tests.money_fixtures import account, driver_with_card, site_tariff
from tests.test_ocpp_errors import RawCharger

BIG = 2**63


async def _upgrade(server: TestServer, cpid: str, password: str) -> int:
    """The HTTP status of one upgrade attempt (101 when it got in)."""
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(ws_url(server, cpid), protocols=("ocpp1.6",),
                                          headers={"Authorization": basic_auth(cpid, password)}
                                          ) as ws:
                await ws.close()
                return 101
        except aiohttp.WSServerHandshakeError as err:
            return err.status


async def test_wrong_passwords_never_lock_out_the_real_charger(server: TestServer,
                                                               api: Api) -> None:
    await add_station(api, "CP3", "right-pass-123")
    statuses = [await _upgrade(server, "CP3", f"wrong-{i}") for i in range(8)]
    assert statuses[:5] == [401] * 5
    assert set(statuses[5:]) == {429}  # the address is throttled ...
    assert await _upgrade(server, "CP3", "right-pass-123") == 101  # ... the right key gets in
    # Failures are counted per address, not per station: another id from this address is
    # throttled too (guessing across ids gains nothing).
    await add_station(api, "CP4", "other-pass-456")
    assert await _upgrade(server, "CP4", "wrong") == 429
    assert await _upgrade(server, "CP4", "other-pass-456") == 101


@pytest.fixture
async def raw(server: TestServer, api: Api) -> AsyncIterator[RawCharger]:
    await add_station(api, "RAW-1", "secret-pass-1")
    await api.post("/cards", {"id_tag": "TAG1"})
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url(server, "RAW-1"), protocols=("ocpp1.6",),
                                      headers={"Authorization": basic_auth("RAW-1",
                                                                           "secret-pass-1")}
                                      ) as ws:
            charger = RawCharger(ws)
            boot = await charger.call("BootNotification", {"chargePointVendor": "V",
                                                           "chargePointModel": "M"})
            assert boot[2]["status"] == "Accepted"
            yield charger


async def test_unknown_message_type_is_ignored(raw: RawCharger) -> None:
    await raw.ws.send_str('[7, "x1", "Heartbeat", {}]')
    await raw.ws.send_str('[5, "x2", {}]')
    # The next frame we get is the answer to the next call: the odd ones got none.
    answer = await raw.call("Heartbeat", {})
    assert answer[0] == 3 and answer[1] == f"m{raw.n}"


async def test_message_id_longer_than_36_is_refused(raw: RawCharger) -> None:
    long_id = "x" * 37
    answer = await raw.send(json.dumps([2, long_id, "Heartbeat", {}]))
    assert answer[0] == 4 and answer[2] == "FormationViolation"
    ok = await raw.send(json.dumps([2, "y" * 36, "Heartbeat", {}]))
    assert ok[0] == 3 and ok[1] == "y" * 36


@pytest.mark.parametrize("connector", [-1, 17, 1_000_000_000, BIG])
async def test_connector_ids_out_of_range_are_refused(raw: RawCharger, api: Api,
                                                      connector: int) -> None:
    status = await raw.call("StatusNotification", {"connectorId": connector, "errorCode": "NoError",
                                                   "status": "Available"})
    assert status[0] == 4 and status[2] == "PropertyConstraintViolation"
    start = await raw.call("StartTransaction", {"connectorId": connector, "idTag": "TAG1",
                                                "meterStart": 0,
                                                "timestamp": "2026-11-25T10:00:00Z"})
    assert start[0] == 4 and start[2] == "PropertyConstraintViolation"
    meter = await raw.call("MeterValues", {"connectorId": connector, "meterValue": [
        {"timestamp": "2026-11-25T10:00:00Z", "sampledValue": [{"value": "10"}]}]})
    assert meter[0] == 4 and meter[2] == "PropertyConstraintViolation"
    # The station itself (0) and its real connectors (NumberOfConnectors unknown: 1 and 2
    # fall under the sane bound) are fine.
    for good in (0, 1, 2):
        ok = await raw.call("StatusNotification", {"connectorId": good, "errorCode": "NoError",
                                                   "status": "Available"})
        assert ok[0] == 3, ok
    station = await api.get("/stations/RAW-1")
    listed = [c["connector_id"] for c in station.get("connectors", [])]
    assert connector not in listed


async def _session(api: Api, tx: int) -> dict[str, Any]:
    items = (await api.get("/sessions?station_id=RAW-1"))["items"]
    match = [s for s in items if s["transaction_id"] == tx]
    assert len(match) == 1
    return dict(await api.get(f"/sessions/{match[0]['id']}"))


async def _start(raw: RawCharger, meter_start: int, tag: str = "TAG1",
                 connector: int = 1) -> int:
    start = await raw.call("StartTransaction", {"connectorId": connector, "idTag": tag,
                                                "meterStart": meter_start,
                                                "timestamp": "2026-11-25T10:00:00Z"})
    assert start[0] == 3, start
    return int(start[2]["transactionId"])


async def test_huge_meter_stop_closes_and_settles(raw: RawCharger, api: Api) -> None:
    await site_tariff(api)
    driver = await driver_with_card(api, "RICH1", balance=100_000)
    tx = await _start(raw, 1000, "RICH1")
    mv = {"connectorId": 1, "transactionId": tx, "meterValue": [{
        "timestamp": "2026-11-25T10:30:00Z", "sampledValue": [{"value": "3000"}]}]}
    assert (await raw.call("MeterValues", mv))[0] == 3
    stop = {"transactionId": tx, "meterStop": BIG, "timestamp": "2026-11-25T11:00:00Z"}
    for _ in range(2):  # a retry changes nothing
        answer = await raw.call("StopTransaction", stop)
        assert answer[0] == 3, answer
    session = await _session(api, tx)
    assert session["state"] == "completed"
    assert "implausible_meter_stop" in session["flags"]
    assert session["energy_wh"] == 2000  # from the sampled register, not from 2^63
    assert (await account(api, driver["id"]))["balance"] == 100_000 - 4000  # 2 kWh at 20


async def test_huge_meter_start_and_meter_values(raw: RawCharger, api: Api) -> None:
    tx = await _start(raw, BIG)
    for value in ("1e19", "-1e19", str(BIG), "NaN", "Infinity"):
        mv = {"connectorId": 1, "transactionId": tx, "meterValue": [{
            "timestamp": "2026-11-25T10:30:00Z", "sampledValue": [{"value": value}]}]}
        answer = await raw.call("MeterValues", mv)
        assert answer[0] == 3, answer
    mv = {"connectorId": 1, "transactionId": BIG, "meterValue": [{
        "timestamp": "2026-11-25T10:30:00Z", "sampledValue": [{"value": "1"}]}]}
    assert (await raw.call("MeterValues", mv))[0] == 3
    stop = await raw.call("StopTransaction", {"transactionId": tx, "meterStop": 5000,
                                              "timestamp": "2026-11-25T11:00:00Z"})
    assert stop[0] == 3, stop
    unknown = await raw.call("StopTransaction", {"transactionId": BIG, "meterStop": BIG,
                                                 "timestamp": "2026-11-25T11:00:00Z"})
    assert unknown[0] == 3, unknown
    session = await _session(api, tx)
    assert session["state"] == "completed"
    assert {"implausible_meter_start", "implausible_meter_value"} <= set(session["flags"])
    assert session["energy_wh"] == 0


async def test_negative_meter_start_bills_no_energy_from_it(raw: RawCharger, api: Api) -> None:
    await site_tariff(api)
    driver = await driver_with_card(api, "RICH2", balance=100_000)
    tx = await _start(raw, -1000, "RICH2")
    stop = await raw.call("StopTransaction", {"transactionId": tx, "meterStop": 5000,
                                              "timestamp": "2026-11-25T11:00:00Z"})
    assert stop[0] == 3
    session = await _session(api, tx)
    assert "bad_meter_start" in session["flags"]
    assert session["energy_wh"] == 0  # no trustworthy start: no energy billed from it
    assert (await account(api, driver["id"]))["balance"] == 100_000


async def test_reservation_id_out_of_range_is_answered(raw: RawCharger, api: Api) -> None:
    start = await raw.call("StartTransaction", {"connectorId": 1, "idTag": "TAG1",
                                                "meterStart": 0, "reservationId": BIG,
                                                "timestamp": "2026-11-25T10:00:00Z"})
    assert start[0] == 3, start
    await asyncio.sleep(0)


async def test_number_of_connectors_bounds_connector_ids(server: TestServer, api: Api,
                                                         charger: Any) -> None:
    await add_station(api, "CP2N", "secret-pass-2", managed=True)
    async with charger("CP2N", "secret-pass-2") as cp:
        await cp.boot()

        async def asked() -> bool:
            return any(a == "GetConfiguration" for a, _ in cp.received)

        await eventually(asked)
        await asyncio.sleep(0.3)
        await cp.status(3, "Available")  # answered with a CALLERROR
    async with charger("CP2N", "secret-pass-2") as cp:  # remembered across connections
        await cp.status(2, "Available")
        await cp.status(3, "Available")
    station = await api.get("/stations/CP2N")
    assert [c["connector_id"] for c in station["connectors"]] == [2]
