"""Money over the real API and simulated chargers: drivers, cards, top-ups with idempotency keys,
the ledger, tariffs, authorization by balance, settlement and the session's cost breakdown."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.db.models_money import LedgerEntry
from appliance.db.models_people import AuditLog
from tests.conftest import Api, add_station
from tests.money_fixtures import account, driver_with_card, site_tariff


async def test_drivers_cards_search_and_reissue(api: Api) -> None:
    driver = await driver_with_card(api, "AAA111", name="Ravi Shah")
    await driver_with_card(api, "BBB222", name="Mina Rao", mode="personal")
    assert [d["name"] for d in (await api.get("/drivers?q=ravi"))["items"]] == ["Ravi Shah"]
    assert [d["name"] for d in (await api.get("/drivers?q=bbb2"))["items"]] == ["Mina Rao"]
    assert len((await api.get("/drivers?q=98765"))["items"]) == 2
    # Lost card: the new UID takes over the driver; the old one is Blocked.
    await api.post(f"/drivers/{driver['id']}/cards",
                   {"id_tag": "CCC333", "mode": "commercial", "replaces": "aaa111"})
    cards = {c["id_tag"]: c for c in (await api.get(f"/drivers/{driver['id']}/cards"))["items"]}
    assert cards["AAA111"]["status"] == "Blocked" and cards["CCC333"]["status"] == "Accepted"
    assert cards["CCC333"]["parent_id_tag"] == driver["group_tag"]
    status, err = await api.request("POST", f"/drivers/{driver['id']}/cards",
                                    {"id_tag": "BBB222", "mode": "personal"})
    assert status == 409 and err["error"]["code"] == "conflict"
    doc = await api.get("/openapi.json")
    assert "/api/v1/drivers/{id}/topups" in doc["paths"] and "/api/v1/tariffs" in doc["paths"]


async def test_topup_idempotency_and_ledger(api: Api) -> None:
    driver = await driver_with_card(api, "TOPUP1")
    path = f"/drivers/{driver['id']}/topups"
    body = {"amount": 50000, "method": "cash", "receipt_no": "R-17"}
    first = await api.request("POST", path, body, {"Idempotency-Key": "k-1"})
    again = await api.request("POST", path, body, {"Idempotency-Key": "k-1"})
    assert first[0] == again[0] == 201 and first[1] == again[1]
    other = await api.request("POST", path, {**body, "amount": 1}, {"Idempotency-Key": "k-1"})
    assert other[0] == 422 and other[1]["error"]["code"] == "unprocessable"
    await api.request("POST", path, {"amount": 2500, "method": "card_terminal"},
                      {"Idempotency-Key": "k-2"})
    bad = await api.request("POST", path, {"amount": -5, "method": "cash"})
    assert bad[0] == 400
    assert (await account(api, driver["id"]))["balance"] == 52500
    rows = (await api.get(f"/drivers/{driver['id']}/ledger"))["items"]
    assert [(r["kind"], r["amount"]["amount"], r["balance_after"]["amount"]) for r in rows] == [
        ("topup", 50000, 50000), ("topup", 2500, 52500)]
    assert rows[0]["method"] == "cash" and rows[0]["receipt_no"] == "R-17"
    assert rows[0]["amount"]["currency"] == "INR"
    adj = await api.request("POST", f"/drivers/{driver['id']}/adjustments", {"amount": -500})
    assert adj[0] == 400  # a reason is required


async def test_commercial_session_is_charged_once(api: Api, charger: Any) -> None:
    await add_station(api, "MONEY-1")
    await site_tariff(api, session_fee="10", session_fee_min_wh=100)
    driver = await driver_with_card(api, "RICH01", balance=100_000)
    poor = await driver_with_card(api, "POOR01", balance=4_000, name="Low Balance")
    mine = await driver_with_card(api, "OWN001", mode="personal", name="Owner")
    async with charger("MONEY-1", "secret-pass-1") as cp:
        await cp.boot()
        refused = await cp.authorize("POOR01")
        assert refused["status"] == "Blocked"
        ok = await cp.authorize("rich01")
        assert ok["status"] == "Accepted" and ok["parent_id_tag"] == driver["group_tag"]
        assert ok["expiry_date"].endswith("Z")
        assert (await cp.authorize("OWN001"))["status"] == "Accepted"
        started = await cp.start_tx(1, "RICH01", meter_start=1000)
        personal = await cp.start_tx(2, "OWN001", meter_start=0)
        await cp.meter(1, started.transaction_id, 5000, power_w=11000)
        live = (await api.get("/sessions?station_id=MONEY-1"))["items"]
        detail = await api.get(f"/sessions/{live[-1]['id']}")
        assert detail["cost"]["live"] and detail["cost"]["energy"]["amount"] == 8000
        await cp.stop(started.transaction_id, meter_stop=3_345)  # 2.345 kWh
        await cp.stop(started.transaction_id, meter_stop=3_345)  # a retry changes nothing
        await cp.stop(personal.transaction_id, meter_stop=9000)
    sessions = (await api.get("/sessions?station_id=MONEY-1"))["items"]
    paid = next(s for s in sessions if s["id_tag"] == "RICH01")
    detail = await api.get(f"/sessions/{paid['id']}")
    # 2.345 kWh x 20.00 = 46.90 -> 4690 paise, + session fee 1000; tax 18 % included.
    cost = detail["cost"]
    assert cost["energy"]["amount"] == 4690 and cost["session"]["amount"] == 1000
    assert detail["fee"] == {"amount": 5690, "currency": "INR"} == cost["fee"]
    assert cost["tax"]["amount"] == 868  # 5690 x 0.18 / 1.18 = 867.97
    assert detail["tariff_snapshot"]["energy_per_kwh"] == "20"
    assert (await account(api, driver["id"]))["balance"] == 100_000 - 5690
    assert (await account(api, mine["id"]))["balance"] == 0
    own = next(s for s in sessions if s["id_tag"] == "OWN001")
    assert own["mode"] == "personal" and own["fee"]["amount"] == 0
    ledger = (await api.get(f"/drivers/{driver['id']}/ledger"))["items"]
    assert [r["kind"] for r in ledger] == ["topup", "charge"]
    # A refund references the session; an admin gives the reason.
    await api.post(f"/drivers/{driver['id']}/refunds",
                   {"amount": 1000, "reason": "session fee waived", "session_id": paid["id"]})
    too_much = await api.request("POST", f"/drivers/{driver['id']}/refunds",
                                 {"amount": 5000, "reason": "x", "session_id": paid["id"]})
    assert too_much[0] == 422
    assert (await account(api, driver["id"]))["balance"] == 100_000 - 4690
    cards = (await api.get(f"/drivers/{poor['id']}/cards"))["items"]
    assert "balance too low" in cards[0]["last_refusal"]


async def test_raw_commands_keep_the_money_rules(api: Api, charger: Any) -> None:
    await add_station(api, "RAWM-1")
    await site_tariff(api)
    await driver_with_card(api, "POOR0001", balance=100)  # below the minimum to start
    await driver_with_card(api, "RICH0001", balance=100_000, name="B")
    await driver_with_card(api, "MINE0001", mode="personal", name="C")
    async with charger("RAWM-1", "secret-pass-1") as cp:
        await cp.boot()
        status, body = await api.request("POST", "/stations/RAWM-1/ocpp/RemoteStartTransaction",
                                          {"connectorId": 1, "idTag": "POOR0001"})
        assert status == 409 and "may not start" in body["error"]["message"]
        assert await api.post("/stations/RAWM-1/ocpp/RemoteStartTransaction",
                              {"connectorId": 1, "idTag": "rich0001"}, expect=200)
        status, body = await api.request("POST", "/stations/RAWM-1/ocpp/SendLocalList", {
            "listVersion": 2, "updateType": "Full",
            "localAuthorizationList": [{"idTag": "MINE0001"}, {"idTag": "RICH0001"}]})
        assert status == 400 and "RICH0001" in body["error"]["message"]
        assert [a for a, _ in cp.received] == ["RemoteStartTransaction"]


async def test_topup_one_writer_trip_with_its_audit_row(server: TestServer, api: Api,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A desk top-up is one call through the writer (the ledger row, the audit row and the
    stored answer commit together); its replay answers alike and writes nothing."""
    driver = await driver_with_card(api, "ONETRIP1")
    database = server.app[keys.DATABASE]
    trips: list[Any] = []

    def counting(through_writer: Any) -> Any:
        async def counted(fn: Any, *args: Any) -> Any:
            trips.append(fn)
            return await through_writer(fn, *args)
        return counted

    for lane in ("run", "run_first"):  # the writer's two ways in
        monkeypatch.setattr(database, lane, counting(getattr(database, lane)))
    path, body = f"/drivers/{driver['id']}/topups", {"amount": 700, "method": "cash"}
    first = await api.request("POST", path, body, {"Idempotency-Key": "one-trip"})
    assert first[0] == 201 and len(trips) == 1
    again = await api.request("POST", path, body, {"Idempotency-Key": "one-trip"})
    assert again == first and len(trips) == 2
    await api.request("POST", path, {"amount": 300, "method": "cash"})  # no key: its own
    assert len(trips) == 3
    monkeypatch.undo()

    def written() -> tuple[list[int], list[str]]:
        rows = LedgerEntry.select().where(LedgerEntry.kind == "topup").order_by(LedgerEntry.id)
        audits = AuditLog.select().where(AuditLog.action == "money.topup")
        return [e.amount for e in rows], [a.target for a in audits]

    assert await database.read(written) == ([700, 300], [str(driver["id"])] * 2)
