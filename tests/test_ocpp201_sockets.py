"""OCPP 2.0.1, the second part of issue 18, over real WebSockets with the `ocpp` library's v201
ChargePoint: an EVSE of several connectors (each one's status, the EVSE's from them, a session
on its connector, unlock of one connector), the kept-answer verbs (reservations, a
transaction's status, monitoring, customer information, firmware) on 2.0.1 and, where it has
them, 1.6, and the key rotation's 2.0.1 password."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from ocpp.routing import on
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action

from appliance import keys
from appliance.db.site import refresh_site, save_site
from tests.charger import SimCharger
from tests.charger201 import connect_charger201
from tests.conftest import Api, add_station, eventually
from tests.driver_fixtures import ledger_true
from tests.money_fixtures import driver_with_card, site_tariff
from tests.staff_client import staff_client


async def _evse(api: Api, cpid: str, evse: int = 1) -> dict[str, Any]:
    station = await api.get(f"/stations/{cpid}")
    return next(c for c in station["connectors"] if c["connector_id"] == evse)


def _plugs(evse: dict[str, Any]) -> dict[int, str]:
    return {p["connector_id"]: p["status"] for p in evse["evse_connectors"]}


async def test_evse_of_two_connectors(server: TestServer, api: Api) -> None:
    await add_station(api, "EV2C-1")
    await site_tariff(api)
    await driver_with_card(api, "CARD2C01", balance=20_000)
    async with connect_charger201(server, "EV2C-1", "secret-pass-1") as cp:
        await cp.boot()
        await cp.status(1, "Available")
        await cp.status(2, "Available")  # EVSE 2 has one connector: nothing kept per plug
        assert (await _evse(api, "EV2C-1"))["evse_connectors"] == []
        await cp.status(1, "Available", connector_id=2)
        evse = await _evse(api, "EV2C-1")
        assert evse["status"] == "Available" and _plugs(evse) == {1: "Available",
                                                                  2: "Available"}
        # The driver plugs into connector 2; the station makes connector 1 Unavailable.
        await cp.status(1, "Occupied", connector_id=2)
        await cp.status(1, "Unavailable", connector_id=1)
        evse = await _evse(api, "EV2C-1")
        assert evse["status"] == "Preparing" and evse["info"] == "Occupied connector 2"
        assert _plugs(evse) == {1: "Unavailable", 2: "Occupied"}
        await cp.event("Started", "TX-2C-1", "Authorized", token="CARD2C01", wh=0, connector=2)
        await cp.event("Ended", "TX-2C-1", "StopAuthorized", wh=1000, reason="Local",
                       connector=2)
        # One connector of the EVSE unlocked, not the EVSE's first.
        assert await server.app[keys.CONTROL].unlock("EV2C-1", 1, 2) == "Unlocked"
        assert cp.received[-1] == ("UnlockConnector", {"evse_id": 1, "connector_id": 2})
    (item,) = (await api.get("/sessions?station_id=EV2C-1"))["items"]
    assert item["connector_id"] == 1 and item["evse_connector_id"] == 2
    # Back on a new connection: connector 1 free again does not free the EVSE while connector
    # 2 is still in use (what was known of the EVSE's connectors is read back).
    async with connect_charger201(server, "EV2C-1", "secret-pass-1") as cp:
        await cp.boot()
        await cp.status(1, "Available", connector_id=1)
        evse = await _evse(api, "EV2C-1")
        assert evse["status"] == "Preparing"  # occupied on connector 2: not free
        assert _plugs(evse) == {1: "Available", 2: "Occupied"}
        await cp.status(1, "Available", connector_id=2)
        assert (await _evse(api, "EV2C-1"))["status"] == "Available"
    site = server.app[keys.SITE]
    saved = await server.app[keys.DATABASE].run(
        save_site, site, {"base_url": "http://192.168.1.20:8080"}, "test")
    refresh_site(site, saved)  # the stickers print
    async with staff_client(server) as staff:
        code, page = await staff.get("/stations/EV2C-1")
        assert code == 200 and 'data-plug="1/2"' in page and 'data-plug="1/1"' in page
        code, page = await staff.get(f"/sessions/{item['id']}")
        assert code == 200 and "connector 2" in page
        # A sticker per socket: EVSE 1's two connectors, EVSE 2 as a connector of its own.
        code, page = await staff.get("/stickers?station=EV2C-1")
        assert code == 200
        assert re.findall(r'data-sticker="([^"]+)"', page) == ["EV2C-1/1/1", "EV2C-1/1/2",
                                                              "EV2C-1/2"]
        assert "http://192.168.1.20:8080/c/EV2C-1/1?socket=2" in page
        code, page = await staff.get("/stickers/EV2C-1/1?socket=2")
        assert re.findall(r'data-sticker="([^"]+)"', page) == ["EV2C-1/1/2"]
    async with aiohttp.ClientSession() as browser, browser.get(
            server.make_url("/c/EV2C-1/1?socket=2")) as resp:
        page = await resp.text()
        assert resp.status == 200 and 'data-plug="1/2"' in page


async def test_kept_answer_verbs_201(server: TestServer, api: Api) -> None:
    await add_station(api, "VERB-1")
    await site_tariff(api)
    await driver_with_card(api, "CARDVB01", balance=20_000)
    async with connect_charger201(server, "VERB-1", "secret-pass-1") as cp:
        await cp.boot()
        got = await api.post("/stations/VERB-1/reservations", {
            "connector_id": 1, "id_tag": "CARDVB01", "expires_at": "2030-01-01T10:00:00Z",
            "reservation_id": 7}, expect=200)
        assert got == {"status": "Accepted"}
        assert cp.received[-1] == ("ReserveNow", {
            "id": 7, "expiry_date_time": "2030-01-01T10:00:00Z", "evse_id": 1,
            "id_token": {"id_token": "CARDVB01", "type": "Central"}})
        assert await api.request("DELETE", "/stations/VERB-1/reservations/7") == (
            200, {"status": "Accepted"})
        assert cp.received[-1] == ("CancelReservation", {"reservation_id": 7})
        # A card that comes as another kind of token is named as that kind (a remote start
        # named Central would come back as a token the card refuses to be).
        await api.post("/cards", {"id_tag": "FOBVB001", "token_type": "ISO15693"})
        control = server.app[keys.CONTROL]
        assert await control.remote_start("VERB-1", 2, "FOBVB001") == "Accepted"
        assert cp.received[-1][1]["id_token"] == {"id_token": "FOBVB001", "type": "ISO15693"}
        started = await cp.event("Started", "TX-FOB-1", "RemoteStart", token="FOBVB001",
                                 token_type="ISO15693", wh=0, evse=2)
        assert started.id_token_info["status"] == "Accepted"
        await api.post("/stations/VERB-1/reservations", {
            "connector_id": 1, "id_tag": "FOBVB001", "expires_at": "2030-01-01T10:00:00Z",
            "reservation_id": 8}, expect=200)
        assert cp.received[-1][1]["id_token"]["type"] == "ISO15693"
        await cp.event("Started", "TX-VB-1", "Authorized", token="CARDVB01", wh=0)
        cp.ongoing.add("TX-VB-1")
        item = next(i for i in (await api.get("/sessions?station_id=VERB-1"))["items"]
                    if i["id_tag"] == "CARDVB01")
        got = await api.get(f"/stations/VERB-1/transaction-status?transaction_id="
                            f"{item['transaction_id']}")
        assert got == {"ongoing": True, "messages_in_queue": False}
        assert cp.received[-1] == ("GetTransactionStatus", {"transaction_id": "TX-VB-1"})
        got = await api.post("/stations/VERB-1/monitors", {"monitors": [
            {"key": "EVSE/Power", "kind": "UpperThreshold", "value": 22000, "severity": 4},
            {"key": "Nope/Thing", "kind": "Delta", "value": 1}]}, expect=200)
        assert got == {"statuses": ["Accepted", "UnknownComponent"]}
        assert cp.received[-1][1]["set_monitoring_data"][0] == {
            "transaction": False, "value": 22000.0, "type": "UpperThreshold", "severity": 4,
            "component": {"name": "EVSE"}, "variable": {"name": "Power"}}
        status, body = await api.request("POST", "/stations/VERB-1/monitors", {"monitors": [
            {"key": "EVSE/Power", "kind": "Sometimes", "value": 1}]})
        assert status == 400 and "kind" in body["error"]["message"]
        assert await api.post("/stations/VERB-1/monitors/clear", {"ids": [100, 5]},
                              expect=200) == {"statuses": ["Accepted", "NotFound"]}
        assert await api.post("/stations/VERB-1/monitoring-base", {"base": "FactoryDefault"},
                              expect=200) == {"status": "Accepted"}
        assert await api.post("/stations/VERB-1/customer-information", {
            "id_tag": "CARDVB01", "report": True}, expect=200) == {"status": "Accepted"}
        assert await api.post("/stations/VERB-1/firmware/publish", {
            "location": "http://127.0.0.1/fw.bin", "checksum": "0" * 32},
            expect=200) == {"status": "Accepted"}
        assert await api.post("/stations/VERB-1/firmware", {
            "location": "http://127.0.0.1/fw.bin", "retrieve_at": "2030-01-01T00:00:00Z"},
            expect=200) == {"status": "Accepted"}

        async def reported() -> bool:
            rows = (await api.get("/stations/VERB-1/answers?kind=NotifyCustomerInformation")
                    )["items"]
            return bool(rows) and "3 sessions kept" in rows[0]["payload"]["data"]

        await eventually(reported)
    answers = (await api.get("/stations/VERB-1/answers?kind=answer:"))["items"]
    kinds = [a["kind"] for a in answers]
    assert kinds[:7] == ["answer:UpdateFirmware", "answer:PublishFirmware",
                         "answer:CustomerInformation", "answer:SetMonitoringBase",
                         "answer:ClearVariableMonitoring", "answer:SetVariableMonitoring",
                         "answer:GetTransactionStatus"]  # a refused monitor was never sent
    assert answers[-1]["kind"] == "answer:ReserveNow"
    assert answers[-1]["payload"]["answer"] == {"status": "Accepted"}
    async with staff_client(server) as staff:
        code, page = await staff.get("/stations/VERB-1")
        assert code == 200 and "answer:CustomerInformation" in page


class Reserving16(SimCharger):
    @on(Action.reserve_now)
    async def on_reserve(self, **kw: Any) -> result16.ReserveNow:
        self.received.append(("ReserveNow", kw))
        return result16.ReserveNow(status="Occupied")

    @on(Action.cancel_reservation)
    async def on_cancel(self, **kw: Any) -> result16.CancelReservation:
        self.received.append(("CancelReservation", kw))
        return result16.CancelReservation(status="Rejected")


async def test_kept_answer_verbs_16(server: TestServer, api: Api, charger: Any) -> None:
    await add_station(api, "VERB-16")
    async with charger("VERB-16", "secret-pass-1", cls=Reserving16) as cp:
        await cp.boot()
        got = await api.post("/stations/VERB-16/reservations", {
            "connector_id": 2, "id_tag": "CARD16", "expires_at": "2030-01-01T10:00:00Z",
            "reservation_id": 3}, expect=200)
        assert got == {"status": "Occupied"}
        assert cp.received[-1] == ("ReserveNow", {
            "connector_id": 2, "id_tag": "CARD16", "expiry_date": "2030-01-01T10:00:00Z",
            "reservation_id": 3})
        assert await api.request("DELETE", "/stations/VERB-16/reservations/3") == (
            200, {"status": "Rejected"})
        status, body = await api.request("GET", "/stations/VERB-16/transaction-status")
        assert status == 400 and "1.6" in body["error"]["message"]
        status, body = await api.request("POST", "/stations/VERB-16/monitoring-base",
                                         {"base": "All"})
        assert status == 400 and "SetMonitoringBase" in body["error"]["message"]
    kinds = [a["kind"] for a in (await api.get("/stations/VERB-16/answers"))["items"]]
    assert kinds == ["answer:CancelReservation", "answer:ReserveNow"]


async def test_rotate_key_201_sets_basic_auth_password(server: TestServer, api: Api) -> None:
    await add_station(api, "ROT-201", "first-password")
    async with connect_charger201(server, "ROT-201", "first-password") as cp:
        await cp.boot()
        assert await api.post("/stations/ROT-201/rotate-key", {}, expect=200) == {
            "status": "Accepted"}
        action, payload = next(r for r in cp.received if r[0] == "SetVariables")
        (data,) = payload["set_variable_data"]
        assert data["component"] == {"name": "SecurityCtrlr"}
        assert data["variable"] == {"name": "BasicAuthPassword"}
        new_key = cp.variables[("SecurityCtrlr", "BasicAuthPassword")]
        assert len(new_key) == 40 and new_key == data["attribute_value"]
    async with connect_charger201(server, "ROT-201", "first-password") as cp:
        assert (await cp.boot()).status == "Accepted"  # the old key until the new one is used
    async with connect_charger201(server, "ROT-201", new_key) as cp:
        assert (await cp.boot()).status == "Accepted"
        status, body = await api.request("POST", "/stations/ROT-201/ocpp/SetVariables", {
            "setVariableData": [{"attributeValue": "x" * 20,
                                 "component": {"name": "SecurityCtrlr"},
                                 "variable": {"name": "BasicAuthPassword"}}]})
        assert status == 400 and "rotate-key" in body["error"]["message"]
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        async with connect_charger201(server, "ROT-201", "first-password"):
            pass
    assert refused.value.status == 401  # the new key was used: the old one is gone


async def test_openapi_lists_each_versions_actions(server: TestServer, api: Api) -> None:
    doc = await api.get("/openapi.json")
    op = doc["paths"]["/api/v1/stations/{id}/ocpp/{action}"]["post"]
    (param,) = [p for p in op["parameters"] if p["name"] == "action"]
    by_version = param["x-ocpp-actions"]
    assert {"RequestStartTransaction", "GetVariables", "SetVariableMonitoring",
            "GetTransactionStatus", "DataTransfer"} <= set(by_version["2.0.1"])
    assert {"RemoteStartTransaction", "ChangeConfiguration", "ReserveNow",
            "DataTransfer"} <= set(by_version["1.6"])
    assert "RemoteStartTransaction" not in by_version["2.0.1"]
    assert "RequestStartTransaction" not in by_version["1.6"]
    for charger_sends in ("TransactionEvent", "BootNotification", "StartTransaction",
                          "NotifyEVChargingNeeds"):
        assert all(charger_sends not in names for names in by_version.values())
    assert "OCPP 2.0.1: " in param["description"] and "RequestStartTransaction" in \
        param["schema"]["enum"]


async def test_master_pass_stops_any_never_starts(server: TestServer, api: Api) -> None:
    """The site's master pass group: a card of it is told its group (the charger knows the
    group as MasterPassGroupId, which a managed charger is given), stops another driver's
    transaction, which is billed to that driver once, and starts nothing."""
    from appliance.billing import localsync
    from appliance.db.site import store_value

    await add_station(api, "MP-201", managed=True)
    await site_tariff(api)
    driver = await driver_with_card(api, "CARDMP01", balance=20_000)
    master = await driver_with_card(api, "MASTER01", mode="personal", name="Site Warden")
    await server.app[keys.DATABASE].run(store_value, "masterpass_group", master["group_tag"],
                                        "test")
    kinds = await api.post("/cards", {"id_tag": "FOB15693", "token_type": "ISO15693"})
    assert kinds["token_type"] == "ISO15693"
    async with connect_charger201(server, "MP-201", "secret-pass-1") as cp:
        cp.variables[("AuthCtrlr", "MasterPassGroupId")] = ""
        await cp.boot()

        async def group_set() -> bool:
            return cp.variables[("AuthCtrlr", "MasterPassGroupId")] == master["group_tag"]

        await eventually(group_set)
        info = await cp.authorize("MASTER01")
        assert info["status"] == "Accepted"
        assert info["group_id_token"] == {"id_token": master["group_tag"], "type": "Central"}
        await cp.event("Started", "MP-A", "Authorized", token="CARDMP01", wh=0)
        refused = await cp.event("Started", "MP-B", "Authorized", token="MASTER01", wh=0,
                                 evse=2)
        assert refused.id_token_info["status"] == "Blocked"
        ended = await cp.event("Ended", "MP-A", "StopAuthorized", token="MASTER01", wh=2000,
                               reason="MasterPass")
        assert ended.id_token_info["status"] == "Accepted"
        # The local list names each card's own kind of token (ISO14443 when it names none).
        assert await localsync.sync(server.app[keys.CONTROL], server.app[keys.DATABASE],
                                    "MP-201")
        sent = [kw for action, kw in cp.received if action == "SendLocalList"]
        tokens = {e["id_token"]["id_token"]: e["id_token"]["type"]
                  for kw in sent for e in kw.get("local_authorization_list") or []}
        assert tokens["FOB15693"] == "ISO15693" and tokens["MASTER01"] == "ISO14443"
    rows = {s["id_tag"]: s for s in (await api.get("/sessions?station_id=MP-201"))["items"]}
    assert rows["CARDMP01"]["state"] == "completed"
    assert rows["CARDMP01"]["stop_id_tag"] == "MASTER01"
    assert "start_blocked" in rows["MASTER01"]["flags"]
    assert (await api.get(f"/drivers/{driver['id']}"))["account"]["balance"]["amount"] \
        == 20_000 - 4_000  # 2 kWh at 20.00, charged once to the driver who charged
    await ledger_true(server)


async def test_get_report_and_bytes_per_message(server: TestServer, api: Api) -> None:
    """GetReport with criteria and component/variable filters (merged into the stored device
    model, not over it), and GetVariables/SetVariables split by the charger's BytesPerMessage
    (and ItemsPerMessage), their answers merged."""
    await add_station(api, "BPM-201")
    async with connect_charger201(server, "BPM-201", "secret-pass-1") as cp:
        cp.variables.update({("DeviceDataCtrlr", "BytesPerMessage.SetVariables"): "260",
                             ("DeviceDataCtrlr", "BytesPerMessage.GetVariables"): "240",
                             ("DeviceDataCtrlr", "ItemsPerMessage.GetReport"): "1",
                             **{("Ctrl", f"V{n}"): str(n) for n in range(6)}})
        await cp.boot()
        full = await api.get("/stations/BPM-201/configuration")  # GetBaseReport: the model
        assert {"key": "Ctrl/V3", "value": "3", "readonly": False} in full["items"]
        got = await api.post("/stations/BPM-201/report", {
            "criteria": ["Available"], "variables": ["Ctrl/V1", "OCPPCommCtrlr"]}, expect=200)
        assert set(got["entries"]) == {"Ctrl/V1", "OCPPCommCtrlr/HeartbeatInterval"}
        reports = [kw for action, kw in cp.received if action == "GetReport"]
        assert [r["component_variable"] for r in reports] == [  # one item a message
            [{"component": {"name": "Ctrl"}, "variable": {"name": "V1"}}],
            [{"component": {"name": "OCPPCommCtrlr"}}]]
        assert all(r["component_criteria"] == ["Available"] for r in reports)
        station = await api.get("/stations/BPM-201")
        assert "Ctrl/V5" in station["device_model"]  # the rest of the model is still there
        assert (await api.post("/stations/BPM-201/report", {"criteria": ["Problem"]},
                               expect=200)) == {"entries": {}}
        status, body = await api.request("POST", "/stations/BPM-201/report",
                                         {"criteria": ["Broken"]})
        assert status == 400 and "criteria" in body["error"]["message"]
        values = {f"Ctrl/V{n}": f"value-{n}-" + "x" * 20 for n in range(6)}
        set_ = await api.post("/stations/BPM-201/configuration", {"values": values},
                              expect=200)
        assert set_["statuses"] == {k: "Accepted" for k in values}
        assert all(cp.variables[("Ctrl", f"V{n}")] == values[f"Ctrl/V{n}"] for n in range(6))
        sets = [len(kw["set_variable_data"]) for a, kw in cp.received if a == "SetVariables"]
        assert len(sets) > 1 and sum(sets) == 6
        names = ",".join([*values, "Ctrl/Nothing"])
        read = await api.get(f"/stations/BPM-201/configuration?keys={names}")
        assert [i["value"] for i in read["items"]] == list(values.values())
        assert read["unknown"] == ["Ctrl/Nothing"]
        gets = [len(kw["get_variable_data"]) for a, kw in cp.received if a == "GetVariables"]
        assert len(gets) > 1 and sum(gets) == 7

        async def frames_logged() -> list[str]:
            frames = (await api.get("/stations/BPM-201/messages?limit=500"))["items"]
            return [f["frame"] for f in frames if f["direction"] == "out"
                    and ('"SetVariables"' in f["frame"] or '"GetVariables"' in f["frame"])]

        await eventually(lambda: _nonempty(frames_logged()))
        for frame in await frames_logged():
            limit = 260 if '"SetVariables"' in frame else 240
            assert len(frame.encode()) <= limit, frame
        status, body = await api.request("POST", "/stations/BPM-201/configuration", {
            "values": {"AuthorizationKey": "0" * 40}})
        assert status == 400 and "rotate-key" in body["error"]["message"]


async def _nonempty(frames: Any) -> bool:
    return bool(await frames)
