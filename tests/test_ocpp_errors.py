"""Bad frames get the CALLERROR DESIGN.md prescribes and the connection lives on; odd charging
reports are answered, stored, flagged and never counted twice."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.charger import ws_url
from tests.conftest import Api, add_station, basic_auth


class RawCharger:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.n = 0

    async def send(self, frame: str) -> list[Any]:
        await self.ws.send_str(frame)
        msg = await self.ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        return json.loads(msg.data)

    async def call(self, action: str, payload: Any) -> list[Any]:
        self.n += 1
        return await self.send(json.dumps([2, f"m{self.n}", action, payload]))


@pytest.fixture
async def raw(server: TestServer, api: Api) -> Any:
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


@pytest.mark.parametrize("frame, unique_id, code", [
    ("this is not json", "-1", "FormationViolation"),
    ('{"a": 1}', "-1", "FormationViolation"),
    ('[2, "x2", "Heartbeat"]', "x2", "FormationViolation"),
    ('[2, "x3", "FlyToTheMoon", {}]', "x3", "NotImplemented"),
    ('[2, "x4", "Reset", {"type": "Hard"}]', "x4", "NotSupported"),
    ('[2, "x5", "StatusNotification", {"connectorId": 1, "errorCode": "NoError"}]', "x5",
     "ProtocolError"),
    ('[2, "x6", "StatusNotification", {"connectorId": "one", "errorCode": "NoError", '
     '"status": "Available"}]', "x6", "TypeConstraintViolation"),
    ('[2, "x7", "Authorize", {"idTag": "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}]', "x7",
     "TypeConstraintViolation"),
    ('[2, "x8", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", '
     '"status": "Dancing"}]', "x8", "PropertyConstraintViolation"),
    ('[2, "x9", "Heartbeat", {"extra": true}]', "x9", "FormationViolation"),
    ('[2, "x10", "Heartbeat", []]', "x10", "ProtocolError"),
])
async def test_callerror_codes(raw: RawCharger, frame: str, unique_id: str, code: str) -> None:
    answer = await raw.send(frame)
    assert answer[:3] == [4, unique_id, code]
    assert isinstance(answer[3], str) and isinstance(answer[4], dict)
    # The connection lives on.
    heartbeat = await raw.call("Heartbeat", {})
    assert heartbeat[0] == 3 and heartbeat[2]["currentTime"].endswith("Z")


async def _session(api: Api, tx: int) -> dict[str, Any]:
    items = (await api.get("/sessions?station_id=RAW-1"))["items"]
    match = [s for s in items if s["transaction_id"] == tx]
    assert len(match) == 1
    return await api.get(f"/sessions/{match[0]['id']}")


async def test_repeats_and_odd_reports(raw: RawCharger, api: Api) -> None:
    start = {"connectorId": 1, "idTag": "TAG1", "meterStart": 500,
             "timestamp": "2026-11-25T10:00:00Z"}
    first = await raw.call("StartTransaction", start)
    again = await raw.call("StartTransaction", start)
    tx = first[2]["transactionId"]
    assert again[2] == first[2]  # a repeated StartTransaction gets the same id
    mv = {"connectorId": 1, "transactionId": tx, "meterValue": [{
        "timestamp": "2026-11-25T10:10:00Z",
        "sampledValue": [{"value": "900"}]}]}
    assert (await raw.call("MeterValues", mv))[0] == 3
    backwards = {"connectorId": 1, "transactionId": tx, "meterValue": [{
        "timestamp": "2026-11-25T10:11:00Z", "sampledValue": [{"value": "700"}]}]}
    assert (await raw.call("MeterValues", backwards))[0] == 3
    stop = {"transactionId": tx, "meterStop": 1500, "timestamp": "2026-11-25T11:00:00Z",
            "reason": "EVDisconnected"}
    assert (await raw.call("StopTransaction", stop))[0] == 3
    assert (await raw.call("StopTransaction", stop))[0] == 3  # repeated: changes nothing
    session = await _session(api, tx)
    assert session["energy_wh"] == 1000 and session["state"] == "completed"
    assert "meter_backwards" in session["flags"]
    assert len((await api.get("/sessions?station_id=RAW-1"))["items"]) == 1
    # Unknown transaction id: answered, kept as a notice, no session made.
    unknown = await raw.call("StopTransaction", {"transactionId": 987654, "meterStop": 10,
                                                 "timestamp": "2026-11-25T11:00:00Z"})
    assert unknown[0] == 3
    assert len((await api.get("/sessions?station_id=RAW-1"))["items"]) == 1


async def test_1970_and_schema_violating_reports_are_answered(raw: RawCharger, api: Api) -> None:
    old = await raw.call("StartTransaction", {"connectorId": 2, "idTag": "TAG1",
                                              "meterStart": 0,
                                              "timestamp": "1970-01-01T00:00:00Z"})
    assert old[0] == 3
    session = await _session(api, old[2]["transactionId"])
    assert "clock_behind" in session["flags"]
    assert session["started_at"] > "2026"  # billed on our receipt time
    # A report that fails its schema but whose business key is readable is answered.
    odd = await raw.call("StopTransaction", {"transactionId": old[2]["transactionId"],
                                             "meterStop": "lots", "timestamp": "soon"})
    assert odd[0] == 3
    session = await _session(api, old[2]["transactionId"])
    assert {"schema_violation", "bad_meter_stop", "bad_timestamp"} <= set(session["flags"])
    assert session["state"] == "completed" and session["energy_wh"] >= 0
    # Without a readable business key it is an error after all.
    bad = await raw.call("StopTransaction", {"meterStop": 5})
    assert bad[:3] == [4, "m4", "ProtocolError"]


async def test_transaction_data_repeating_old_readings_is_not_backwards(raw: RawCharger,
                                                                       api: Api) -> None:
    start = await raw.call("StartTransaction", {"connectorId": 1, "idTag": "TAG1",
                                                "meterStart": 1000,
                                                "timestamp": "2026-11-25T10:00:00Z"})
    tx = start[2]["transactionId"]

    def mv(ts: str, wh: int, context: str = "Sample.Periodic") -> dict[str, Any]:
        return {"timestamp": ts, "sampledValue": [{"value": str(wh), "context": context}]}

    await raw.call("MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [
        mv("2026-11-25T10:10:00Z", 1500), mv("2026-11-25T10:20:00Z", 2100)]})
    await raw.call("StopTransaction", {
        "transactionId": tx, "meterStop": 2600, "timestamp": "2026-11-25T10:30:00Z",
        "transactionData": [mv("2026-11-25T10:00:00Z", 1000, "Transaction.Begin"),
                            mv("2026-11-25T10:10:00Z", 1500), mv("2026-11-25T10:20:00Z", 2100),
                            mv("2026-11-25T10:30:00Z", 2600, "Transaction.End")]})
    session = await _session(api, tx)
    assert session["energy_wh"] == 1600 and "meter_backwards" not in session["flags"]
