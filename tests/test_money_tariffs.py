"""Issue 21 end to end, over real WebSockets with the `ocpp` library's ChargePoint: an off-peak
session across 22:00 billed in two bands, a fleet driver priced by the fleet tariff at one
charger and the site's at another, an idle fee once the charger reports SuspendedEV past the
grace period, a running session keeping its tariff's version, and the price preview."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestServer
from ocpp.v16 import call

from tests.charger201 import connect_charger201
from tests.conftest import Api, add_station, eventually
from tests.driver_fixtures import driver_with_pin, phone
from tests.money_fixtures import INR_TARIFF, account, driver_with_card, site_tariff
from tests.staff_client import staff_client

SITE_TZ = "Asia/Kolkata"
OFF_PEAK = {"name": "off-peak", "days": "all", "start": "22:00", "end": "06:00",
            "energy_per_kwh": "8"}


@pytest.fixture
async def server(start_app: Any, make_settings: Any) -> TestServer:
    return await start_app(make_settings(site_timezone=SITE_TZ))


def ocpp_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def last_evening(hour: int, minute: int = 0) -> datetime:
    """Yesterday's (site time) hour:minute as naive UTC: a past the charger can report, as an
    offline charger reports its transactions later."""
    local = datetime.now(ZoneInfo(SITE_TZ)) - timedelta(days=1)
    moment = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return moment.astimezone(UTC).replace(tzinfo=None)


async def meter_at(cp: Any, connector_id: int, tx: int, wh: int, moment: datetime) -> None:
    await cp.call(call.MeterValues(connector_id=connector_id, transaction_id=tx, meter_value=[
        {"timestamp": ocpp_time(moment), "sampled_value": [
            {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]))


async def status_at(cp: Any, connector_id: int, status: str, moment: datetime) -> None:
    await cp.call(call.StatusNotification(connector_id=connector_id, error_code="NoError",
                                          status=status, timestamp=ocpp_time(moment)))


async def session_of(api: Api, cpid: str) -> dict[str, Any]:
    row = (await api.get(f"/sessions?station_id={cpid}"))["items"][0]
    return dict(await api.get(f"/sessions/{row['id']}"))


async def test_off_peak_session_across_22_is_billed_in_two_bands(api: Api, charger: Any
                                                                 ) -> None:
    await add_station(api, "TOD-1")
    await site_tariff(api, energy_per_kwh="12", bands=[OFF_PEAK], min_to_start=0)
    driver = await driver_with_card(api, "TOD001", balance=50_000)
    start = last_evening(21, 30)
    async with charger("TOD-1", "secret-pass-1") as cp:  # replaying: no boot since then
        tx = (await cp.start_tx(1, "TOD001", meter_start=1_000,
                                timestamp=ocpp_time(start))).transaction_id
        await meter_at(cp, 1, tx, 6_000, start + timedelta(minutes=30))  # 22:00: 5 kWh peak
        live = (await session_of(api, "TOD-1"))["cost"]
        await cp.stop(tx, meter_stop=9_000, timestamp=ocpp_time(start + timedelta(hours=1)))
    final = (await session_of(api, "TOD-1"))["cost"]
    assert [(b["name"], b["energy_wh"], b["energy"]["amount"]) for b in final["bands"]] == [
        ("", 5_000, 6_000), ("off-peak", 3_000, 2_400)]
    assert final["fee"]["amount"] == 8_400 and not final["live"]
    assert live["live"] and live["bands"][0]["energy"]["amount"] == 6_000
    assert (await account(api, driver["id"]))["balance"] == 50_000 - 8_400


async def test_fleet_driver_pays_fleet_price_only_where_it_applies(api: Api,
                                                                   charger: Any) -> None:
    await add_station(api, "FLEET-A")
    await add_station(api, "FLEET-B")
    await site_tariff(api, energy_per_kwh="20", min_to_start=0)
    fleet = await api.post("/tariffs", {"name": "Fleet", "energy_per_kwh": "10"})
    await api.post(f"/tariffs/{fleet['id']}/assignments",
                   {"station_id": "FLEET-A", "group": "Fleet"})
    driver = await driver_with_card(api, "VAN001", balance=50_000)
    await api.patch(f"/drivers/{driver['id']}", {"price_group": "fleet"})
    fees = {}
    for cpid in ("FLEET-A", "FLEET-B"):
        async with charger(cpid, "secret-pass-1") as cp:
            await cp.boot()
            tx = (await cp.start_tx(1, "VAN001", meter_start=0)).transaction_id
            await cp.stop(tx, meter_stop=2_000)
        session = await session_of(api, cpid)
        fees[cpid] = (session["cost"]["tariff"]["name"], session["fee"]["amount"])
    assert fees == {"FLEET-A": ("Fleet", 2_000), "FLEET-B": ("Standard", 4_000)}
    who = (await api.get("/tariff-assignments"))["items"]
    assert (who[0]["group"], who[0]["station"], who[0]["tariff"]["name"]) == (
        "fleet", "FLEET-A", "Fleet")
    # The price preview agrees, by the same function.
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    preview = await api.get(f"/stations/FLEET-A/price?connector=1&group=fleet&at={at}"
                            "&energy_wh=2000&duration_s=60")
    assert preview["example"]["cost"]["fee"]["amount"] == 2_000
    assert (await api.get("/stations/FLEET-B/price?connector=1&group=fleet&energy_wh=2000")
            )["example"]["cost"]["fee"]["amount"] == 4_000


async def test_personal_card_free_unless_its_group_has_a_tariff(api: Api, charger: Any
                                                                ) -> None:
    await add_station(api, "STAFF-1")
    await site_tariff(api, energy_per_kwh="20", min_to_start=0)
    mine = await driver_with_card(api, "OWN001", mode="personal", name="Ravi")
    staff = await driver_with_card(api, "EMP001", mode="personal", name="Meera")
    await api.patch(f"/drivers/{staff['id']}", {"price_group": "employees"})
    cheap = await api.post("/tariffs", {"name": "Employees", "energy_per_kwh": "5"})
    await api.post(f"/tariffs/{cheap['id']}/assignments", {"group": "employees"})
    async with charger("STAFF-1", "secret-pass-1") as cp:
        await cp.boot()
        for tag in ("OWN001", "EMP001"):
            tx = (await cp.start_tx(1, tag, meter_start=0)).transaction_id
            await cp.stop(tx, meter_stop=1_000)
    assert (await account(api, mine["id"]))["balance"] == 0
    assert (await account(api, staff["id"]))["balance"] == -500


async def test_idle_fee_after_grace_once_charger_reports_suspended_ev(api: Api,
                                                                      charger: Any) -> None:
    await add_station(api, "IDLE-1")
    await site_tariff(api, energy_per_kwh="10", idle_per_hour="60", idle_grace_min=15,
                      idle_cap=10_000, min_to_start=0)
    driver = await driver_with_card(api, "IDL001", balance=50_000)
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=2)
    async with charger("IDLE-1", "secret-pass-1") as cp:
        tx = (await cp.start_tx(1, "IDL001", meter_start=0,
                                timestamp=ocpp_time(start))).transaction_id
        await status_at(cp, 1, "Charging", start)
        # The site's own limit pauses it for 20 minutes: never idle.
        await status_at(cp, 1, "SuspendedEVSE", start + timedelta(minutes=10))
        await status_at(cp, 1, "Charging", start + timedelta(minutes=30))
        await status_at(cp, 1, "SuspendedEV", start + timedelta(minutes=60))  # the car is full
        await cp.stop(tx, meter_stop=5_000, timestamp=ocpp_time(start + timedelta(minutes=100)))
    session = await session_of(api, "IDLE-1")
    # 40 minutes in SuspendedEV, 15 of grace: 25 minutes at 60 an hour = 25.00.
    assert session["cost"]["idle"]["amount"] == 2_500
    assert session["cost"]["idle_s"] == 25 * 60
    assert session["fee"]["amount"] == 5_000 + 2_500
    assert (await account(api, driver["id"]))["balance"] == 50_000 - 7_500


async def test_201_idle_fee_from_charging_states(server: TestServer, api: Api) -> None:
    """2.0.1 says idle in TransactionEvent's chargingState: EVConnected (plugged in, taking
    nothing) and SuspendedEV count after the grace period, SuspendedEVSE never."""
    await add_station(api, "IDLE-201")
    await site_tariff(api, energy_per_kwh="10", idle_per_hour="60", idle_grace_min=15,
                      idle_cap=10_000, min_to_start=0)
    driver = await driver_with_card(api, "IDL201", balance=50_000)
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=2)

    def at(minutes: int) -> str:
        return ocpp_time(start + timedelta(minutes=minutes))

    async with connect_charger201(server, "IDLE-201", "secret-pass-1") as cp:
        await cp.boot()
        await _booted_at(server, "IDLE-201", start - timedelta(hours=1))  # its past is trusted
        await cp.event("Started", "i-1", "Authorized", token="IDL201", wh=0,
                       timestamp=at(0), state="Charging")
        for minute, state in ((10, "SuspendedEVSE"), (30, "Charging"), (60, "EVConnected"),
                              (80, "SuspendedEV")):
            await cp.event("Updated", "i-1", "ChargingStateChanged", timestamp=at(minute),
                           state=state)
        await cp.event("Ended", "i-1", "EVDeparted", wh=5_000, reason="EVDisconnected",
                       timestamp=at(100), state="Idle")
    session = await session_of(api, "IDLE-201")
    # 20 minutes EVConnected + 20 SuspendedEV, 15 of grace: 25 minutes at 60 an hour = 25.00.
    assert session["cost"]["idle_s"] == 25 * 60
    assert session["cost"]["idle"]["amount"] == 2_500
    assert session["fee"]["amount"] == 5_000 + 2_500
    assert (await account(api, driver["id"]))["balance"] == 50_000 - 7_500


async def test_taking_a_tariff_away(server: TestServer, api: Api, charger: Any) -> None:
    """A station's tariff taken away by the API and a group's by the page, both audited: the
    session already running keeps the price it started with, the next start pays the site's."""
    await add_station(api, "AWAY-1")
    await site_tariff(api, energy_per_kwh="10", min_to_start=0)
    own = await api.post("/tariffs", {**INR_TARIFF, "name": "AWAY-1 own",
                                      "energy_per_kwh": "30", "min_to_start": 0})
    await api.post(f"/tariffs/{own['id']}/assignments", {"station_id": "AWAY-1"})
    fleet = await api.post("/tariffs", {**INR_TARIFF, "name": "Fleet", "energy_per_kwh": "5"})
    await api.post(f"/tariffs/{fleet['id']}/assignments", {"station_id": None, "group": "fleet"})
    await driver_with_card(api, "AWY001", balance=50_000)
    async with charger("AWAY-1", "secret-pass-1") as cp:
        await cp.boot()
        tx = (await cp.start_tx(1, "AWY001", meter_start=0)).transaction_id
        status, removed = await api.request("DELETE", "/tariff-assignments?station_id=AWAY-1")
        assert status == 200 and removed["tariff"]["id"] == own["id"], removed
        status, again = await api.request("DELETE", "/tariff-assignments?station_id=AWAY-1")
        assert status == 404, again
        await cp.stop(tx, meter_stop=1_000)
        tx = (await cp.start_tx(1, "AWY001", meter_start=1_000)).transaction_id
        await cp.stop(tx, meter_stop=2_000)
    fees = [s["fee"]["amount"] for s in
            (await api.get("/sessions?station_id=AWAY-1"))["items"]]
    assert sorted(fees) == [1_000, 3_000]  # the next start at the site's 10, the first at 30
    async with staff_client(server) as staff:
        _, html = await staff.get("/tariffs")
        assert html.count('action="/tariffs/unassign"') == 2  # the site's and the fleet's rows
        status, html = await staff.post("/tariffs/unassign", {"group": "fleet"},
                                        from_page="/tariffs")
        assert status == 200 and "Fleet" not in html.split('id="who-pays"')[1].split("</table>")[0]
        status, _ = await staff.post("/tariffs/unassign", {"group": "fleet"},
                                     from_page="/tariffs")
        assert status == 400
    assert [r["group"] for r in await _who_pays(api)] == [""]
    assert await _audited(server, "tariff.unassign") == [
        (str(own["id"]), {"station_id": "AWAY-1", "connector_id": None, "group": None}),
        (str(fleet["id"]), {"station_id": None, "connector_id": None, "group": "fleet"})]


async def test_sticker_price_line(server: TestServer, api: Api) -> None:
    """The optional price line on the QR stickers: a site setting; the connector's tariff for
    everyone as the API's price preview gives it, and the tariff of now, not of an old one."""
    await add_station(api, "STK-1")
    tariff = await site_tariff(api, energy_per_kwh="12.5", bands=[OFF_PEAK], session_fee="5",
                               idle_per_hour="60", idle_grace_min=15)
    async with staff_client(server) as staff:
        form = {"base_url": "http://192.168.1.20:8080"}
        assert (await staff.post("/settings", form, from_page="/settings"))[0] == 200
        _, html = await staff.get("/stickers/STK-1/1")
        assert "s-price" not in html  # off unless the site asks for it
        await staff.post("/settings", {**form, "sticker_price": "on"}, from_page="/settings")
        preview = await api.get("/stations/STK-1/price?connector=1")
        assert (preview["energy_per_kwh"], preview["bands"][0]["energy_per_kwh"]) == ("12.5", "8")
        line = _price_line(await staff.get("/stickers/STK-1/1"))
        assert line == ("₹12.50 per kWh · off-peak 22:00–06:00: ₹8.00 · ₹5.00 per session · "
                        "idle ₹60.00/h after 15 min"), line
        await api.patch(f"/tariffs/{tariff['id']}", {"energy_per_kwh": "13", "bands": []})
        _, html = await staff.get("/stickers")
        assert _price_line((200, html)) == "₹13.00 per kWh · ₹5.00 per session · " \
            "idle ₹60.00/h after 15 min"


def _price_line(page: tuple[int, str]) -> str:
    status, html = page
    assert status == 200, html
    found = re.search(r'<div class="s-price">(.*?)</div>', html)
    assert found, "no price line"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


async def _who_pays(api: Api) -> list[dict[str, Any]]:
    return list((await api.get("/tariff-assignments"))["items"])


async def _audited(server: TestServer, action: str) -> list[tuple[str, Any]]:
    from appliance import keys
    from appliance.db.models_people import AuditLog

    def read() -> list[tuple[str, Any]]:
        return [(a.target, json.loads(a.detail)) for a in
                AuditLog.select().where(AuditLog.action == action).order_by(AuditLog.id)]

    return await server.app[keys.DATABASE].read(read)


async def _booted_at(server: TestServer, cpid: str, moment: datetime) -> None:
    """The charger booted before the session it reports now (times before a boot that are far
    off our clock are not trusted)."""
    from appliance import keys
    from appliance.db.models import Station

    def write() -> None:
        Station.update(last_boot_at=moment).where(Station.key == cpid).execute()

    await server.app[keys.DATABASE].run(write)


async def test_a_running_session_keeps_its_tariff_version(api: Api, charger: Any) -> None:
    await add_station(api, "SNAP-1")
    tariff = await site_tariff(api, energy_per_kwh="10", min_to_start=0)
    await driver_with_card(api, "SNP001", balance=50_000)
    async with charger("SNAP-1", "secret-pass-1") as cp:
        await cp.boot()
        tx = (await cp.start_tx(1, "SNP001", meter_start=0)).transaction_id
        await api.patch(f"/tariffs/{tariff['id']}", {"energy_per_kwh": "30"})
        await cp.meter(1, tx, 1_000)
        await cp.stop(tx, meter_stop=1_000)
    session = await session_of(api, "SNAP-1")
    assert session["fee"]["amount"] == 1_000 and session["cost"]["tariff"]["version"] == 1
    history = (await api.get(f"/tariffs/{tariff['id']}"))["history"]
    assert [(h["version"], h["tariff"]["energy_per_kwh"]) for h in history] == [
        (2, "30"), (1, "10")]


async def test_charger_display_gets_price_running_and_final_cost(server: TestServer, api: Api,
                                                                 charger: Any) -> None:
    """A 1.6 charger with the OCA's California pricing option shows the driver's price when
    they tap, the running cost and the final cost: the amounts the receipt has, with the
    decimals the charger asks for."""
    await add_station(api, "SHOW-1", managed=True)
    await site_tariff(api, energy_per_kwh="12.5", session_fee="5", min_to_start=0,
                      idle_per_hour="60", idle_grace_min=15)
    driver = await driver_with_card(api, "SHOW01", balance=50_000)
    # The driver reads the pseudo-locale: every word the display gets must come bracketed.
    await api.patch(f"/drivers/{driver['id']}", {"language": "en_XA"})
    async with charger("SHOW-1", "secret-pass-1") as cp:
        cp.configuration.update({"CustomDisplayCostAndPrice": "true",
                                 "NumberOfDecimalsForCostValues": "3"})
        await cp.boot()

        async def configured() -> bool:
            return bool(await _managed_notices(server))

        await eventually(configured)
        assert (await cp.authorize("SHOW01"))["status"] == "Accepted"
        shown = await _shown(cp, "SetUserPrice")
        assert shown["idToken"] == "SHOW01" and "₹12.50/kWh" in shown["priceText"]
        assert _words_outside_brackets(shown["priceText"]) == [], shown["priceText"]
        assert "15" in shown["priceText"]  # the grace minutes, inside the translated words
        tx = (await cp.start_tx(1, "SHOW01", meter_start=1_000)).transaction_id
        await cp.meter(1, tx, 3_000)
        running = await _shown(cp, "RunningCost")
        live = (await session_of(api, "SHOW-1"))["cost"]["fee"]["amount"]
        # meterValue is the register (the whitepaper's example: 1234000), not the 2 kWh so far.
        assert running["transactionId"] == tx and running["meterValue"] == 3_000
        assert running["cost"] == live / 100 == 30.0 and running["state"] == "Charging"
        assert running["chargingPrice"]["kWhPrice"] == 12.5
        await cp.stop(tx, meter_stop=5_000)
        final = await _shown(cp, "FinalCost")
    session = await session_of(api, "SHOW-1")
    assert final["transactionId"] == tx
    assert final["cost"] == session["fee"]["amount"] / 100 == 55.0
    assert "₹55.00" in final["priceText"]
    assert _words_outside_brackets(final["priceText"]) == [], final["priceText"]


def _words_outside_brackets(text: str) -> list[str]:
    """Words a display shows that did not come through gettext (the pseudo-locale brackets
    every translated text)."""
    return [w for w in re.findall(r"[A-Za-z]+", re.sub(r"⟦[^⟧]*⟧", "", text))]


async def test_201_display_speaks_the_drivers_or_the_sites_language(server: TestServer,
                                                                    api: Api) -> None:
    """2.0.1's personal message at Authorize: the driver's language when they chose one (also
    as language1), the site's otherwise; "Free" is a word too."""
    await add_station(api, "SAY-201")
    await site_tariff(api, energy_per_kwh="12.5", idle_per_hour="60", idle_grace_min=15)
    own = await driver_with_card(api, "SAY001", balance=50_000)
    await api.patch(f"/drivers/{own['id']}", {"language": "en_XA"})
    await driver_with_card(api, "SAY002", balance=50_000)
    free = await driver_with_card(api, "SAY003", mode="personal")
    await api.patch(f"/drivers/{free['id']}", {"language": "en_XA"})
    async with connect_charger201(server, "SAY-201", "secret-pass-1") as cp:
        await cp.boot()
        mine = await cp.authorize("SAY001")
        site = await cp.authorize("SAY002")
        gratis = await cp.authorize("SAY003")
    assert mine["personal_message"]["language"] == mine["language1"] == "en-XA"
    assert "₹12.50/kWh" in mine["personal_message"]["content"]
    assert _words_outside_brackets(mine["personal_message"]["content"]) == []
    assert site["personal_message"]["language"] == "en" and "language1" not in site
    assert "idle ₹60.00/h after 15 min" in site["personal_message"]["content"]
    assert gratis["personal_message"]["content"].startswith("⟦") \
        and _words_outside_brackets(gratis["personal_message"]["content"]) == []


async def _managed_notices(server: TestServer) -> list[Any]:
    from appliance import keys
    from appliance.db.models import StationNotice

    def read() -> list[Any]:
        return list(StationNotice.select().where(StationNotice.kind == "managed_configuration"))

    return await server.app[keys.DATABASE].read(read)


async def _shown(cp: Any, message_id: str) -> dict[str, Any]:
    async def sent() -> bool:
        return any(a == "DataTransfer" and kw.get("message_id") == message_id
                   for a, kw in cp.received)

    await eventually(sent)
    kw = [kw for a, kw in cp.received if a == "DataTransfer" and kw["message_id"] == message_id]
    assert kw[-1]["vendor_id"] == "org.openchargealliance.costmsg"
    return dict(json.loads(kw[-1]["data"]))


async def test_live_page_warns_before_the_idle_fee(server: TestServer, api: Api,
                                                   charger: Any) -> None:
    await add_station(api, "WARN-1")
    await site_tariff(api, energy_per_kwh="10", idle_per_hour="60", idle_grace_min=15,
                      min_to_start=0)
    await driver_with_pin(server, api, "+91 90000 00021", balance=20_000)
    async with charger("WARN-1", "secret-pass-1") as cp, phone(server) as p:
        await cp.boot()
        await cp.status(1, "Preparing")
        await p.login("9000000021")
        _, html, path = await p.start("WARN-1", 1)
        tag = [kw for a, kw in cp.received if a == "RemoteStartTransaction"][0]["id_tag"]
        tx = (await cp.start_tx(1, tag, meter_start=0)).transaction_id
        await cp.status(1, "Charging")
        _, html, _ = await p.get(path)
        assert _shown_idle(html) == ["ahead"]
        await cp.status(1, "SuspendedEV")  # the car is full: 15 minutes of grace begin
        _, html, _ = await p.get(path)
        assert _shown_idle(html) == ["grace"]
        assert re.search(r'data-field="idle_minutes">15<', html)
        await cp.stop(tx, meter_stop=1_000)
        _, html, _ = await p.get(path)
        assert _shown_idle(html) == []


def _shown_idle(html: str) -> list[str]:
    """The idle warnings the live page shows (not hidden)."""
    return [m.group(1) for m in re.finditer(r'<p [^>]*data-idle="(\w+)"([^>]*)>', html)
            if "hidden" not in m.group(2)]
