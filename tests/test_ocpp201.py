"""OCPP 2.0.1 beside 1.6 (issue 18): the `ocpp` library's v201 ChargePoint over real WebSockets
boots, reports, authorizes and runs transactions that are billed by the same money rules as
1.6's; a QR start goes out as RequestStartTransaction after its hold; the charger page's verbs
reach it as 2.0.1 messages; the same charger back on 1.6 keeps its history."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from ocpp.exceptions import SecurityError
from ocpp.v201 import call

from appliance import keys
from appliance.db.models import Station
from tests.charger import ws_url
from tests.charger201 import SimCharger201, connect_charger201
from tests.conftest import Api, add_station, eventually
from tests.driver_fixtures import (
    account,
    driver_with_pin,
    holds,
    ledger_rows,
    ledger_true,
    phone,
    site_with_charger,
)
from tests.money_fixtures import driver_with_card, site_tariff
from tests.staff_client import staff_client
from tests.test_hostile_client import _appliance_check


async def _negotiated(server: TestServer, cpid: str, offered: tuple[str, ...]) -> str | None:
    token = base64.b64encode(f"{cpid}:secret-pass-1".encode()).decode()
    async with aiohttp.ClientSession() as session, session.ws_connect(
            ws_url(server, cpid), protocols=offered,
            headers={"Authorization": f"Basic {token}"}) as ws:
        return ws.protocol


def _pin(cpid: str, version: str) -> None:
    Station.update(ocpp_pin=version).where(Station.cpid == cpid).execute()


async def test_subprotocol_preference(server: TestServer, api: Api) -> None:
    await add_station(api, "PREF-1")
    assert await _negotiated(server, "PREF-1", ("ocpp1.6", "ocpp2.0.1")) == "ocpp2.0.1"
    assert await _negotiated(server, "PREF-1", ("ocpp1.6",)) == "ocpp1.6"
    assert await _negotiated(server, "PREF-1", ("ocpp2.0.1",)) == "ocpp2.0.1"
    await server.app[keys.DATABASE].run(_pin, "PREF-1", "1.6")
    assert await _negotiated(server, "PREF-1", ("ocpp2.0.1", "ocpp1.6")) == "ocpp1.6"
    token = base64.b64encode(b"PREF-1:secret-pass-1").decode()
    async with aiohttp.ClientSession() as session:
        async with session.get(str(server.make_url("/ocpp/PREF-1")), headers={
                "Authorization": f"Basic {token}", "Connection": "Upgrade",
                "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Protocol": "ocpp2.0.1"}) as resp:
            assert resp.status == 400  # pinned to 1.6: 2.0.1 alone is refused
            assert "ocpp1.6" in await resp.text()


async def test_commercial_session_billed_like_16(server: TestServer, api: Api) -> None:
    await add_station(api, "V201-1")
    await site_tariff(api)  # 20.00 per kWh, 50.00 to start
    driver = await driver_with_card(api, "CARD2011", balance=20_000)
    async with connect_charger201(server, "V201-1", "secret-pass-1") as cp:
        boot = await cp.boot()
        assert boot.status == "Accepted" and boot.interval == 300
        assert boot.current_time.endswith("Z")
        assert (await cp.heartbeat()).current_time.endswith("Z")
        await cp.status(1, "Available")
        await cp.status(1, "Occupied")
        info = await cp.authorize("card2011")
        assert info["status"] == "Accepted"
        assert "20.00" in info["personal_message"]["content"]  # the driver's price
        assert info["group_id_token"] == {"id_token": driver["group_tag"], "type": "Central"}
        started = await cp.event("Started", "TX-A-0001", "Authorized", token="CARD2011",
                                 wh=1000, context="Transaction.Begin")
        assert started.id_token_info["status"] == "Accepted"
        await cp.event("Updated", "TX-A-0001", "MeterValuePeriodic", wh=2500, power_w=7200)
        live = (await api.get("/sessions?station_id=V201-1"))["items"][0]
        assert live["state"] == "active" and live["energy_wh"] == 1500
        assert live["transaction_id"] > 0
        ended = await cp.event("Ended", "TX-A-0001", "EVCommunicationLost", wh=4000,
                               reason="EVDisconnected", context="Transaction.End")
        assert ended.id_token_info is None
        assert ended.total_cost == 60.0  # the charge, on the charger's display
        # Replays of what was answered change nothing (the charger retries after a drop).
        await cp.event("Updated", "TX-A-0001", "MeterValuePeriodic", wh=2500, seq_no=1)
        await cp.event("Ended", "TX-A-0001", "EVCommunicationLost", wh=4000,
                       reason="EVDisconnected", context="Transaction.End", seq_no=2)
    (item,) = (await api.get("/sessions?station_id=V201-1"))["items"]
    session = await api.get(f"/sessions/{item['id']}")
    assert session["energy_wh"] == 3000 and session["state"] == "completed"
    assert session["stop_reason"] == "EVDisconnected" and session["flags"] == []
    # 3 kWh at 20.00: one charge of 60.00, exactly as a 1.6 session.
    assert await ledger_rows(server) == [("topup", 20_000), ("charge", -6_000)]
    assert (await account(api, driver["id"]))["balance"] == 14_000
    station = await api.get("/stations/V201-1")
    assert station["vendor"] == "TestVendor" and station["model"] == "SimCP-201"
    assert station["ocpp_version"] == "2.0.1"
    assert station["connectors"][0]["status"] == "Finishing"  # ended, the EV still plugged in
    await ledger_true(server)
    code, out = await _appliance_check(server.app[keys.SETTINGS])  # the command itself
    assert code == 0 and "FAIL" not in out, out


async def test_personal_card_free_and_unknown_refused(server: TestServer, api: Api) -> None:
    await add_station(api, "V201-2")
    await site_tariff(api)
    await driver_with_card(api, "HOME2011", mode="personal")
    async with connect_charger201(server, "V201-2", "secret-pass-1") as cp:
        await cp.boot()
        assert (await cp.authorize("NOBODY01"))["status"] == "Invalid"
        started = await cp.event("Started", "p-1", "Authorized", token="HOME2011", wh=0)
        assert started.id_token_info["status"] == "Accepted"
        await cp.event("Ended", "p-1", "StopAuthorized", wh=5000, reason="Local")
    assert await ledger_rows(server) == []  # personal: recorded, no money
    (item,) = (await api.get("/sessions?station_id=V201-2"))["items"]
    assert item["energy_wh"] == 5000
    await ledger_true(server)


async def test_offline_events_out_of_order_billed_once(server: TestServer, api: Api) -> None:
    await add_station(api, "V201-3")
    await site_tariff(api)
    driver = await driver_with_card(api, "CARD2013", balance=20_000)
    async with connect_charger201(server, "V201-3", "secret-pass-1") as cp:
        await cp.boot()
        # Queued while offline and sent in the wrong order: Ended before Updated and Started.
        await cp.event("Ended", "off-1", "EVDeparted", token="CARD2013", wh=3000,
                       reason="EVDisconnected", offline=True, seq_no=2,
                       timestamp="2026-12-01T10:30:00Z")
        await cp.event("Updated", "off-1", "MeterValuePeriodic", wh=2000, offline=True,
                       seq_no=1, timestamp="2026-12-01T10:15:00Z")
        await cp.event("Started", "off-1", "Authorized", token="CARD2013", wh=1000,
                       offline=True, seq_no=0, timestamp="2026-12-01T10:00:00Z")
    (item,) = (await api.get("/sessions?station_id=V201-3"))["items"]
    assert item["state"] == "completed"
    session = await api.get(f"/sessions/{item['id']}")
    assert session["energy_wh"] == 2000 and "start_after_stop" in session["flags"]
    # Priced from the stop first (nothing known of the start), then once more when the start
    # came: 2 kWh at 20.00, booked as one correction of the session.
    assert await ledger_rows(server) == [("topup", 20_000), ("adjustment", -4_000)]
    assert (await account(api, driver["id"]))["balance"] == 16_000
    await ledger_true(server)


def _sent(cp: SimCharger201, action: str) -> list[dict[str, Any]]:
    return [kw for a, kw in cp.received if a == action]


async def test_qr_start_and_remote_stop(server: TestServer, api: Api) -> None:
    await site_with_charger(api, "QR-201")
    driver = await driver_with_pin(server, api, "+91 90000 02011", balance=20_000)
    async with connect_charger201(server, "QR-201", "secret-pass-1") as cp, phone(server) as p:
        await cp.boot()
        await cp.status(1, "Occupied")
        await p.login("9000002011")
        _, html, path = await p.start("QR-201", 1)
        assert path.startswith("/driver/starts/"), html
        assert await holds(server) == [("open", 20_000)]  # the hold before the command
        (sent,) = _sent(cp, "RequestStartTransaction")
        tag = sent["id_token"]["id_token"]
        assert sent["id_token"]["type"] == "Central" and sent["evse_id"] == 1
        assert (await cp.authorize(tag, "Central"))["status"] == "Accepted"
        started = await cp.event("Started", "qr-tx-1", "RemoteStart", token=tag, wh=1000,
                                 remote_start_id=sent["remote_start_id"])
        assert started.id_token_info["status"] == "Accepted"
        assert await holds(server) == [("captured", 20_000)]
        await cp.event("Updated", "qr-tx-1", "MeterValuePeriodic", wh=3500, power_w=7000)
        # The driver's stop button: RequestStopTransaction with the charger's own id.
        status, html, _ = await p.post(path + "/stop", {}, path)
        assert status == 200, html

        async def stop_sent() -> bool:
            return bool(_sent(cp, "RequestStopTransaction"))

        await eventually(stop_sent)
        assert _sent(cp, "RequestStopTransaction") == [{"transaction_id": "qr-tx-1"}]
        await cp.event("Ended", "qr-tx-1", "RemoteStop", wh=4000, reason="Remote")
    assert await holds(server) == [("released", 20_000)]
    assert await ledger_rows(server) == [("topup", 20_000), ("hold", 20_000),
                                         ("charge", -6_000), ("release", -20_000)]
    assert (await account(api, driver["id"]))["balance"] == 14_000
    await ledger_true(server)


async def test_commands_reach_it_as_201(server: TestServer, api: Api) -> None:
    await add_station(api, "CMD-201")
    async with connect_charger201(server, "CMD-201", "secret-pass-1") as cp:
        await cp.boot()
        control = server.app[keys.CONTROL]
        assert await control.reset("CMD-201", hard=False) == "Accepted"
        assert await control.unlock("CMD-201", 1) == "Unlocked"
        assert await control.set_availability("CMD-201", 1, operative=False) == "Accepted"
        from appliance.charging.control import Trigger
        assert await control.trigger("CMD-201", Trigger.STATUS, 1) == "Accepted"
        assert await control.clear_cache("CMD-201") == "Accepted"
        config = await control.get_configuration("CMD-201", ["HeartbeatInterval", "Nope"])
        assert config.value("HeartbeatInterval") == "300" and config.unknown == ["Nope"]
        assert await control.change_configuration(
            "CMD-201", "OCPPCommCtrlr/HeartbeatInterval", "120") == "Accepted"
        full = await control.get_configuration("CMD-201")
        assert full.value("OCPPCommCtrlr/HeartbeatInterval") == "120"
        assert full.value("EVSE@1/Power") is None  # a MaxSet, not an Actual value
        assert _sent(cp, "Reset") == [{"type": "OnIdle"}]
        assert _sent(cp, "UnlockConnector") == [{"evse_id": 1, "connector_id": 1}]
        assert _sent(cp, "ChangeAvailability") == [{"operational_status": "Inoperative",
                                                    "evse": {"id": 1}}]
        assert _sent(cp, "TriggerMessage") == [{"requested_message": "StatusNotification",
                                                "evse": {"id": 1, "connector_id": 1}}]
        assert len(_sent(cp, "GetBaseReport")) == 1
        # The raw endpoint checks against the station's version: 1.6 actions are refused.
        status, body = await api.request("POST", "/stations/CMD-201/ocpp/RemoteStopTransaction",
                                         {"transactionId": 1})
        assert status == 400 and "2.0.1" in body["error"]["message"]
        answer = await api.post("/stations/CMD-201/ocpp/ClearCache", {}, expect=200)
        assert answer == {"status": "Accepted"}
        # The money and key rules hold for raw 2.0.1 commands too.
        status, body = await api.request("POST", "/stations/CMD-201/ocpp/SetVariables", {
            "setVariableData": [{"attributeValue": "x" * 20,
                                 "component": {"name": "SecurityCtrlr"},
                                 "variable": {"name": "BasicAuthPassword"}}]})
        assert status == 400 and "rotate-key" in body["error"]["message"]
        await driver_with_card(api, "POOR2011", balance=0)
        status, body = await api.request(
            "POST", "/stations/CMD-201/ocpp/RequestStartTransaction",
            {"idToken": {"idToken": "POOR2011", "type": "ISO14443"}, "remoteStartId": 7,
             "evseId": 1})
        assert status == 409, body
        assert not _sent(cp, "RequestStartTransaction")
    station = await api.get("/stations/CMD-201")
    assert station["device_model"]["EVSE@1/Power"]["MaxSet"] == "22000"


async def test_charger_page_speaks_201(server: TestServer, api: Api) -> None:
    """The charger page's forms are the same for both versions; a 2.0.1 charger gets 2.0.1
    messages, and the page shows its version and the device model it reported."""
    await add_station(api, "PAGE-201")
    forms = [({"command": "reset_hard"}, ("Reset", {"type": "Immediate"})),
             ({"command": "unlock", "connector_id": "2"},
              ("UnlockConnector", {"evse_id": 2, "connector_id": 1})),
             ({"command": "available", "connector_id": "0"},
              ("ChangeAvailability", {"operational_status": "Operative"})),
             ({"command": "trigger", "message": "meter_values"},
              ("TriggerMessage", {"requested_message": "MeterValues"})),
             ({"command": "change_configuration", "key": "HeartbeatInterval", "value": "90"},
              ("SetVariables", {"set_variable_data": [{
                  "attribute_value": "90", "component": {"name": "OCPPCommCtrlr"},
                  "variable": {"name": "HeartbeatInterval"}}]}))]
    async with connect_charger201(server, "PAGE-201", "secret-pass-1") as cp, \
            staff_client(server) as admin:
        await cp.boot()
        await cp.status(1, "Available")
        for form, expected in forms:
            status, body = await admin.post("/stations/PAGE-201/command", form)
            assert status == 200, (form, body)
            assert cp.received[-1] == expected
        status, body = await admin.post("/stations/PAGE-201/command",
                                        {"command": "get_configuration"})
        assert status == 200 and "OCPPCommCtrlr/HeartbeatInterval = 90" in body
    async with staff_client(server, username="page-reader") as reader:
        status, page = await reader.get("/stations/PAGE-201")
        assert status == 200 and "2.0.1" in page and "EVSE@1/Power" in page
        assert "<th>EVSE 1</th>" in page  # a 2.0.1 socket is an EVSE
        status, page = await reader.get("/stations/PAGE-201?variable=heartbeat")
        assert "OCPPCommCtrlr/HeartbeatInterval" in page and "EVSE@1/Power" not in page


async def test_back_on_16_keeps_its_history(server: TestServer, api: Api, charger: Any
                                            ) -> None:
    await add_station(api, "FW-1")
    await api.post("/cards", {"id_tag": "CARDFW01"})
    async with connect_charger201(server, "FW-1", "secret-pass-1") as cp:
        await cp.boot()
        await cp.event("Started", "fw-1", "Authorized", token="CARDFW01", wh=0)
        await cp.event("Ended", "fw-1", "StopAuthorized", wh=1000, reason="Local")
    assert (await api.get("/stations/FW-1"))["ocpp_version"] == "2.0.1"
    async with charger("FW-1", "secret-pass-1") as cp16:  # a firmware downgrade: 1.6 only
        await cp16.boot()
        started = await cp16.start_tx(1, "CARDFW01", meter_start=1000)
        await cp16.stop(started.transaction_id, meter_stop=3000)
    assert (await api.get("/stations/FW-1"))["ocpp_version"] == "1.6"
    items = (await api.get("/sessions?station_id=FW-1"))["items"]
    assert sorted(i["energy_wh"] for i in items) == [1000, 2000]


async def test_pending_boot_then_security_error(server: TestServer, api: Api) -> None:
    # An unknown id is admitted as pending: it may boot, nothing else, until approved.
    async with connect_charger201(server, "NEW-201") as cp:
        boot = await cp.boot()
        assert boot.status == "Pending"
        with pytest.raises(SecurityError):  # the library raises the CALLERROR it got
            await cp.call(call.Heartbeat(), suppress=False)
        # Approval on the same connection: a key first (BasicAuthPassword), then a boot.
        station = await api.patch("/stations/NEW-201", {"approved": True})
        assert station["approved"] and station["has_password"], station
        (sent,) = _sent(cp, "SetVariables")
        key = sent["set_variable_data"][0]["attribute_value"]
        assert sent["set_variable_data"][0]["variable"] == {"name": "BasicAuthPassword"}
        assert _sent(cp, "TriggerMessage") == [{"requested_message": "BootNotification"}]
        assert (await cp.boot()).status == "Accepted"
        assert (await cp.heartbeat()).current_time.endswith("Z")
    async with connect_charger201(server, "NEW-201", key) as cp:  # its new key lets it in
        assert (await cp.boot()).status == "Accepted"


async def test_managed_profile_at_its_201_addresses(server: TestServer, api: Api) -> None:
    """A managed 2.0.1 station reports its device model after an Accepted boot, and gets what
    prepaid money needs set where 2.0.1 keeps it; what it does not know is noted, not sent."""
    await add_station(api, "MAN-201", managed=True)
    async with connect_charger201(server, "MAN-201", "secret-pass-1") as cp:
        cp.variables[("TxCtrlr", "StopTxOnInvalidId")] = "false"
        cp.variables[("SampledDataCtrlr", "TxUpdatedInterval")] = "60"
        await cp.boot()

        async def profile_set() -> bool:
            return bool(_sent(cp, "SetVariables"))

        await eventually(profile_set)
        (sent,) = _sent(cp, "SetVariables")
        assert sent["set_variable_data"] == [{
            "attribute_value": "true", "component": {"name": "TxCtrlr"},
            "variable": {"name": "StopTxOnInvalidId"}}]
    station = await api.get("/stations/MAN-201")
    assert station["device_model"]["TxCtrlr/StopTxOnInvalidId"]["Actual"] == "false"


async def test_watchdog_stops_a_201_session_at_the_limit(server: TestServer, api: Api) -> None:
    """Running out: the same watchdog as 1.6, its stop sent as RequestStopTransaction with the
    charger's own transaction id."""
    await site_with_charger(api, "QR-202")
    await driver_with_pin(server, api, "+91 90000 02012", balance=50_000)
    async with connect_charger201(server, "QR-202", "secret-pass-1") as cp, phone(server) as p:
        await cp.boot()
        await cp.status(1, "Available")
        await p.login("+919000002012")
        _, html, _ = await p.start("QR-202", 1, limit_kind="amount", limit="100")
        assert await holds(server) == [("open", 10_000)], html
        tag = _sent(cp, "RequestStartTransaction")[0]["id_token"]["id_token"]
        await cp.event("Started", "wd-1", "RemoteStart", token=tag, wh=0)
        await cp.event("Updated", "wd-1", "MeterValuePeriodic", wh=3000, power_w=1000)
        assert not _sent(cp, "RequestStopTransaction")
        await cp.event("Updated", "wd-1", "MeterValuePeriodic", wh=4900, power_w=11_000)

        async def stop_sent() -> bool:
            return _sent(cp, "RequestStopTransaction") == [{"transaction_id": "wd-1"}]

        await eventually(stop_sent)
        await cp.event("Ended", "wd-1", "RemoteStop", wh=5000, reason="Remote")
    assert await holds(server) == [("released", 10_000)]
    await ledger_true(server)


TOKEN_TYPES = ("ISO14443", "ISO15693", "eMAID", "KeyCode", "Local", "MacAddress")


async def test_authorize_each_token_type(server: TestServer, api: Api) -> None:
    """A card of any kind is the same card; one pinned to a kind (the card API stores it) is
    refused when it comes as another; the driver's group tag is the groupIdToken."""
    await add_station(api, "TOK-201")
    for kind in TOKEN_TYPES:
        await api.post("/cards", {"id_tag": f"ANY{kind[:8]}"})
    pinned = await api.post("/cards", {"id_tag": "PINNED01", "token_type": "ISO15693"})
    assert pinned["token_type"] == "ISO15693"
    status, _ = await api.request("POST", "/cards", {"id_tag": "BADKIND1", "token_type": "Foo"})
    assert status == 400
    async with connect_charger201(server, "TOK-201", "secret-pass-1") as cp:
        await cp.boot()
        for kind in TOKEN_TYPES:
            assert (await cp.authorize(f"ANY{kind[:8]}", kind))["status"] == "Accepted", kind
        assert (await cp.authorize("PINNED01", "ISO15693"))["status"] == "Accepted"
        assert (await cp.authorize("PINNED01", "ISO14443"))["status"] == "Invalid"
        assert (await cp.authorize("NOBODY02", "KeyCode"))["status"] == "Invalid"
        started = await cp.event("Started", "tok-1", "Authorized", token="PINNED01", wh=0)
        assert started.id_token_info["status"] == "Invalid"  # it came as ISO14443


async def test_start_token_named_again_keeps_its_answer(server: TestServer, api: Api) -> None:
    """An event naming the start's token again mid-session (a repeated Started, an Updated)
    gets the start's answer: money the session itself has used is no reason to stop it."""
    await add_station(api, "AGAIN-201")
    await site_tariff(api)  # 50.00 to start
    await driver_with_card(api, "CARD2019", balance=6_000)
    async with connect_charger201(server, "AGAIN-201", "secret-pass-1") as cp:
        await cp.boot()
        started = await cp.event("Started", "ag-1", "Authorized", token="CARD2019", wh=0)
        assert started.id_token_info["status"] == "Accepted"
        await cp.event("Updated", "ag-1", "MeterValuePeriodic", wh=1000)  # 20.00 used
        assert (await cp.authorize("CARD2019"))["status"] == "Blocked"  # a new start: no
        again = await cp.event("Updated", "ag-1", "Authorized", token="CARD2019", wh=1100)
        assert again.id_token_info["status"] == "Accepted"
        await cp.event("Ended", "ag-1", "StopAuthorized", token="CARD2019", wh=1500,
                       reason="Local")
    await ledger_true(server)


def _notices(station: str) -> list[tuple[str, dict[str, Any]]]:
    from appliance.db.models import StationNotice

    return [(n.kind, json.loads(n.payload)) for n in StationNotice.select().join(Station)
            .where(Station.cpid == station).order_by(StationNotice.id)]


async def test_firmware_logs_profiles_and_display(server: TestServer, api: Api) -> None:
    """The rest of the blocks through the raw command endpoint, schema-checked against 2.0.1:
    a firmware update and a log upload reported back, a charging profile set and read back
    (ReportChargingProfiles), a display message set."""
    await add_station(api, "FW-201")
    database = server.app[keys.DATABASE]
    async with connect_charger201(server, "FW-201", "secret-pass-1") as cp:
        await cp.boot()
        answer = await api.post("/stations/FW-201/ocpp/UpdateFirmware", {
            "requestId": 11, "firmware": {"location": "http://127.0.0.1/fw.bin",
                                          "retrieveDateTime": "2026-12-05T10:00:00Z"}},
            expect=200)
        assert answer == {"status": "Accepted"}
        answer = await api.post("/stations/FW-201/ocpp/GetLog", {
            "requestId": 12, "logType": "DiagnosticsLog",
            "log": {"remoteLocation": "http://127.0.0.1/upload"}}, expect=200)
        assert answer["status"] == "Accepted"
        profile = {"id": 5, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
                   "chargingProfileKind": "Absolute", "chargingSchedule": [{
                       "id": 1, "chargingRateUnit": "A", "startSchedule": "2026-12-05T00:00:00Z",
                       "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}]}
        answer = await api.post("/stations/FW-201/ocpp/SetChargingProfile",
                                {"evseId": 1, "chargingProfile": profile}, expect=200)
        assert answer == {"status": "Accepted"}
        answer = await api.post("/stations/FW-201/ocpp/GetChargingProfiles", {
            "requestId": 13, "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"}},
            expect=200)
        assert answer == {"status": "Accepted"}
        answer = await api.post("/stations/FW-201/ocpp/SetDisplayMessage", {"message": {
            "id": 1, "priority": "NormalCycle",
            "message": {"format": "UTF8", "content": "20.00 per kWh"}}}, expect=200)
        assert answer == {"status": "Accepted"}

        async def reported() -> bool:
            kinds = [k for k, _ in await database.read(_notices, "FW-201")]
            return kinds.count("FirmwareStatusNotification") == 4 \
                and kinds.count("LogStatusNotification") == 2 \
                and "ReportChargingProfiles" in kinds

        await eventually(reported)
    notices = await database.read(_notices, "FW-201")
    (report,) = [p for k, p in notices if k == "ReportChargingProfiles"]
    assert report["chargingProfile"][0]["chargingSchedule"][0]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 16.0}]
    station = await api.get("/stations/FW-201")
    assert station["firmware_status"] == "Installed"
    assert ("SetDisplayMessage", {"message": {
        "id": 1, "priority": "NormalCycle",
        "message": {"format": "UTF8", "content": "20.00 per kWh"}}}) in cp.received


async def test_plugged_in_then_authorized(server: TestServer, api: Api) -> None:
    """The usual 2.0.1 order: the transaction starts at plug-in with nobody named, the card
    comes in an Updated event; the session is the driver's from there, metered from the
    register at the start, and nothing about it is odd."""
    await add_station(api, "PLUG-201")
    await site_tariff(api)
    driver = await driver_with_card(api, "CARD2020", balance=20_000)
    async with connect_charger201(server, "PLUG-201", "secret-pass-1") as cp:
        await cp.boot()
        started = await cp.event("Started", "pl-1", "CablePluggedIn", wh=500,
                                 context="Transaction.Begin")
        assert started.id_token_info is None
        assert (await api.get("/sessions?station_id=PLUG-201"))["items"] == []
        authorized = await cp.event("Updated", "pl-1", "Authorized", token="CARD2020")
        assert authorized.id_token_info["status"] == "Accepted"
        await cp.event("Updated", "pl-1", "MeterValuePeriodic", wh=1500, power_w=7000)
        await cp.event("Ended", "pl-1", "EVDeparted", wh=2500, reason="EVDisconnected")
    (item,) = (await api.get("/sessions?station_id=PLUG-201"))["items"]
    session = await api.get(f"/sessions/{item['id']}")
    assert session["energy_wh"] == 2000 and session["flags"] == []
    assert await ledger_rows(server) == [("topup", 20_000), ("charge", -4_000)]
    assert (await account(api, driver["id"]))["balance"] == 16_000
    await ledger_true(server)


async def test_get_variables_respects_items_per_message(server: TestServer, api: Api) -> None:
    await add_station(api, "IPM-201")
    async with connect_charger201(server, "IPM-201", "secret-pass-1") as cp:
        cp.variables[("DeviceDataCtrlr", "ItemsPerMessage.GetVariables")] = "2"
        await cp.boot()
        control = server.app[keys.CONTROL]
        await control.get_configuration("IPM-201")  # the device model, with the limit
        cp.variables = {("DeviceDataCtrlr", "ItemsPerMessage.GetVariables"): "2",
                        **{("Ctrl", f"V{n}"): str(n) for n in range(5)}}
        config = await control.get_configuration("IPM-201", [f"Ctrl/V{n}" for n in range(6)])
        assert [(i.key, i.value) for i in config.items] == [(f"Ctrl/V{n}", str(n))
                                                           for n in range(5)]
        assert config.unknown == ["Ctrl/V5"]
        sizes = [len(kw["get_variable_data"]) for a, kw in cp.received if a == "GetVariables"]
        assert sizes == [2, 2, 2]


async def test_running_cost_on_the_display(server: TestServer, api: Api) -> None:
    """A charger whose device model says it shows costs (TariffCostCtrlr.Enabled[Cost]) gets
    CostUpdated with the session's live cost after its meter values."""
    await add_station(api, "COST-201")
    await site_tariff(api)
    await driver_with_card(api, "CARD2030", balance=20_000)
    async with connect_charger201(server, "COST-201", "secret-pass-1") as cp:
        cp.variables[("TariffCostCtrlr", "Enabled.Cost")] = "true"
        await cp.boot()
        await server.app[keys.CONTROL].get_configuration("COST-201")  # reads the model
        await cp.event("Started", "c-1", "Authorized", token="CARD2030", wh=0)
        await cp.event("Updated", "c-1", "MeterValuePeriodic", wh=1500, power_w=7000)

        async def shown() -> bool:
            return bool(_sent(cp, "CostUpdated"))

        await eventually(shown)
        assert _sent(cp, "CostUpdated") == [{"total_cost": 30.0, "transaction_id": "c-1"}]
        await cp.event("Ended", "c-1", "StopAuthorized", wh=2000, reason="Local")
    await ledger_true(server)


async def test_201_framing_and_schemas(server: TestServer, api: Api) -> None:
    """CALLERRORs in 2.0.1's words, checked against 2.0.1's schemas: FormatViolation (1.6's
    FormationViolation), MessageTypeNotSupported for an unknown message type, a 1.6-only
    action is NotImplemented; the connection lives on."""
    await add_station(api, "RAW-201")
    token = base64.b64encode(b"RAW-201:secret-pass-1").decode()
    async with aiohttp.ClientSession() as session, session.ws_connect(
            ws_url(server, "RAW-201"), protocols=("ocpp2.0.1",),
            headers={"Authorization": f"Basic {token}"}) as ws:
        async def exchange(frame: str) -> list[Any]:
            await ws.send_str(frame)
            return list(json.loads((await ws.receive()).data))

        boot = await exchange('[2,"b1","BootNotification",{"chargingStation":{"model":"M",'
                              '"vendorName":"V"},"reason":"PowerUp"}]')
        assert boot[0] == 3 and boot[2]["status"] == "Accepted"
        assert (await exchange("not json"))[2] == "FormatViolation"
        assert (await exchange('[7,"x1",{}]'))[:3] == [4, "x1", "MessageTypeNotSupported"]
        assert (await exchange('[2,"s1","StartTransaction",{"connectorId":1}]'))[2] \
            == "NotImplemented"
        assert (await exchange('[2,"s2","StatusNotification",{"timestamp":"2026-12-05T10:00:00Z",'
                               '"connectorStatus":"Sleeping","evseId":1,"connectorId":1}]'))[2] \
            == "PropertyConstraintViolation"
        assert (await exchange('[2,"h1","Heartbeat",{}]'))[0] == 3


async def test_lists_limits_and_certificates_as_201(server: TestServer, api: Api) -> None:
    """The verbs local lists, load management and security profiles use, in 2.0.1's terms
    (each payload checked against 2.0.1's schema before it goes): a session's limit names the
    charger's own transaction id."""
    from appliance.charging.control import CertificateKind, ChargingLimit, ListEntry

    await add_station(api, "VERB-201")
    await api.post("/cards", {"id_tag": "CARD2040"})
    control = server.app[keys.CONTROL]
    async with connect_charger201(server, "VERB-201", "secret-pass-1") as cp:
        await cp.boot()
        assert await control.get_local_list_version("VERB-201") == 0
        entries = [ListEntry("CARD2040", "Accepted", "GROUP01"), ListEntry("GONE0001", None)]
        assert await control.send_local_list("VERB-201", 3, entries, False) == "Accepted"
        assert await control.get_local_list_version("VERB-201") == 3
        (sent,) = _sent(cp, "SendLocalList")
        assert sent["local_authorization_list"][0] == {
            "id_token": {"id_token": "CARD2040", "type": "ISO14443"},
            "id_token_info": {"status": "Accepted",
                              "group_id_token": {"id_token": "GROUP01", "type": "Central"}}}
        await cp.event("Started", "lim-1", "Authorized", token="CARD2040", wh=0)
        (item,) = (await api.get("/sessions?station_id=VERB-201"))["items"]
        limit = ChargingLimit(16.0, phases=3, session=str(item["transaction_id"]),
                              connector_id=1, profile_id=7)
        assert await control.set_charging_limit("VERB-201", limit) == "Accepted"
        profile = _sent(cp, "SetChargingProfile")[0]["charging_profile"]
        assert profile["transaction_id"] == "lim-1"
        assert profile["charging_profile_purpose"] == "TxProfile"
        assert await control.set_charging_limit("VERB-201", ChargingLimit(10.0)) == "Accepted"
        assert await control.clear_charging_limit("VERB-201", 7) == "Accepted"
        assert await control.install_certificate(
            "VERB-201", CertificateKind.CSMS_ROOT, "-----BEGIN CERTIFICATE-----") == "Accepted"
        installed = await control.installed_certificates("VERB-201", CertificateKind.CSMS_ROOT)
        assert installed.certificates[0].serial_number == "01"


async def test_a_first_connection_is_one_trip_through_the_writer(
        server: TestServer, api: Api, charger: Any) -> None:
    """A charger's connection marks its station online and records the OCPP version it speaks
    in one writer job (a boot storm's first connections made two: the version, then online)."""
    await add_station(api, "TRIP-1")
    database = server.app[keys.DATABASE]
    hub = server.app[keys.HUB]
    before = database.jobs_done
    async with connect_charger201(server, "TRIP-1", "secret-pass-1"):
        await eventually(lambda: _true(hub.get("TRIP-1") is not None))
        await eventually(lambda: _true(database.jobs_done > before))
        await asyncio.sleep(0.2)  # anything else the connection would write
        assert database.jobs_done - before == 1
    assert (await api.get("/stations/TRIP-1"))["ocpp_version"] == "2.0.1"


async def _true(value: bool) -> bool:
    return value
