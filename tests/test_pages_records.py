"""Cards, sessions, staff and audit pages; CSRF; login throttling; escaping; safe CSV."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

from aiohttp.test_utils import TestServer

from appliance.web.export import csv_safe
from tests.conftest import Api, add_station
from tests.staff_client import staff_client


async def test_form_without_csrf_token_is_refused(server: TestServer) -> None:
    async with staff_client(server) as staff:
        status, body = await staff.post("/cards", {"id_tag": "NOCSRF01"}, csrf=False)
        assert status == 403 and "gone stale" in body and "Reload the page" in body
        status, _ = await staff.post("/cards", {"id_tag": "WITHCSRF"})
        assert status == 200
        assert "WITHCSRF" in (await staff.get("/cards"))[1]


async def test_login_brute_force_is_slowed_then_refused(server: TestServer) -> None:
    async with staff_client(server, username="target") as staff:
        await staff.post("/logout", {})
        started = time.monotonic()
        statuses = []
        for _ in range(6):
            status, _ = await staff.post("/login", {"username": "target", "password": "guess"},
                                         from_page="/login")
            statuses.append(status)
        assert statuses == [401] * 6
        assert time.monotonic() - started > 2.0  # each failure waits a little longer
        status, body = await staff.post("/login", {"username": "target",
                                                   "password": "a-good-password-1"},
                                        from_page="/login")
        assert status == 401 and "Too many failed logins" in body


async def test_desk_is_refused_on_admin_pages(server: TestServer) -> None:
    async with staff_client(server, role="desk") as desk:
        assert (await desk.get("/cards"))[0] == 200
        for path in ("/staff", "/audit"):
            assert (await desk.get(path))[0] == 403
        status, _ = await desk.post("/stations/ANY/command", {"command": "reset_soft"})
        assert status == 403


async def test_anonymous_goes_to_login(server: TestServer) -> None:
    async with staff_client(server) as staff:
        await staff.post("/logout", {})
        status, _ = await staff.get("/sessions")
        assert status == 303


async def test_charger_text_is_escaped(server: TestServer, api: Api, charger: Any) -> None:
    await add_station(api, "XSS-1")
    async with charger("XSS-1", "secret-pass-1") as cp:
        from ocpp.v16 import call

        await cp.call(call.BootNotification(charge_point_vendor="<script>x()</script>",
                                            charge_point_model="M"))
    async with staff_client(server) as staff:
        for path in ("/stations/XSS-1", "/stations", "/"):
            _, html = await staff.get(path)
            assert "<script>x()</script>" not in html
        assert "&lt;script&gt;x()&lt;/script&gt;" in (await staff.get("/stations/XSS-1"))[1]


async def test_sessions_csv_is_filtered_and_formula_safe(server: TestServer, api: Api,
                                                         charger: Any) -> None:
    await add_station(api, "CSV-1")
    await api.post("/cards", {"id_tag": "=HYPERLINK"})
    await api.post("/cards", {"id_tag": "PLAIN01"})
    async with charger("CSV-1", "secret-pass-1") as cp:
        await cp.boot()
        a = await cp.start_tx(1, "=HYPERLINK", 0)
        await cp.stop(a.transaction_id, 1200)
        b = await cp.start_tx(2, "PLAIN01", 0)
        await cp.stop(b.transaction_id, 700)
    async with staff_client(server) as staff:
        _, text = await staff.get("/sessions.csv?station=CSV-1")
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0][:3] == ["session", "transaction_id", "station"]
        assert sorted(r[5] for r in rows[1:]) == ["'=HYPERLINK", "PLAIN01"]
        _, text = await staff.get("/sessions.csv?card=PLAIN01")
        assert [r[9] for r in csv.reader(io.StringIO(text))][1:] == ["0.7"]
        status, html = await staff.get(f"/sessions/{rows[1][0]}")
        assert status == 200 and "CSV-1" in html


def test_csv_safe() -> None:
    assert [csv_safe(v) for v in ("=1+1", "+44", "-3", "@x", "ok", None, 5)] == [
        "'=1+1", "'+44", "'-3", "'@x", "ok", "", 5]


async def test_staff_management_and_audit(server: TestServer) -> None:
    async with staff_client(server) as admin:
        status, html = await admin.post("/staff", {"action": "create", "username": "desk1",
                                                   "role": "desk", "password": "desk-password-1"},
                                        from_page="/staff")
        assert status == 200 and "desk1: created." in html
        status, html = await admin.post("/staff", {"action": "create", "username": "desk2",
                                                   "role": "desk", "password": "short"},
                                        from_page="/staff")
        assert status == 400 and "at least 10 characters" in html
        _, html = await admin.get("/audit")
        assert "staff login added" in html and "desk1" in html


async def test_driver_exports_and_fees_today(server: TestServer, api: Api, charger: Any) -> None:
    from tests.money_fixtures import driver_with_card, site_tariff

    await add_station(api, "FEE-1")
    await site_tariff(api, energy_per_kwh="20", min_to_start=0)
    driver = await driver_with_card(api, "=CMD|'/Ccalc'!A0", balance=10_000,
                                    name="=HYPERLINK(\"http://x\")")
    async with charger("FEE-1", "secret-pass-1") as cp:
        await cp.boot()
        tx = (await cp.start_tx(1, "=CMD|'/Ccalc'!A0", 0)).transaction_id
        await cp.stop(tx, 1000)
    async with staff_client(server) as staff:
        _, text = await staff.get("/drivers.csv")
        row = list(csv.reader(io.StringIO(text)))[1]
        assert row[1].startswith("'=HYPERLINK") and row[4].startswith("'=CMD")
        assert row[5] == "80.00" and row[8] == "INR"
        _, text = await staff.get(f"/drivers/{driver['id']}/ledger.csv")
        kinds = [r[2] for r in csv.reader(io.StringIO(text))][1:]
        assert kinds == ["topup", "charge"]
        _, html = await staff.get("/")
        assert "₹20.00" in html.split('id="fees-today"')[1][:40]


async def test_charger_page_commands_reach_the_charger_as_ocpp(server: TestServer, api: Api,
                                                               charger: Any) -> None:
    """Each command of the charger page is a ChargerControl verb; the 1.6 charger receives the
    matching call, and the page shows its answer."""
    await add_station(api, "CMD-1")
    forms = [({"command": "reset_soft"}, ("Reset", {"type": "Soft"})),
             ({"command": "reset_hard"}, ("Reset", {"type": "Hard"})),
             ({"command": "unlock", "connector_id": "2"}, ("UnlockConnector", {"connector_id": 2})),
             ({"command": "unavailable", "connector_id": "1"},
              ("ChangeAvailability", {"connector_id": 1, "type": "Inoperative"})),
             ({"command": "trigger", "message": "status"},
              ("TriggerMessage", {"requested_message": "StatusNotification"})),
             ({"command": "clear_cache"}, ("ClearCache", {})),
             ({"command": "change_configuration", "key": "HeartbeatInterval", "value": "120"},
              ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"}))]
    async with charger("CMD-1", "secret-pass-1") as cp, staff_client(server) as admin:
        await cp.boot()
        for form, expected in forms:
            status, body = await admin.post("/stations/CMD-1/command", form)
            assert status == 200, (form, body)
            assert cp.received[-1] == expected
        cp.configuration["MeterValueSampleInterval"] = "60"
        status, body = await admin.post("/stations/CMD-1/command",
                                        {"command": "get_configuration"})
        assert status == 200 and "MeterValueSampleInterval = 60" in body
        status, body = await admin.post("/stations/CMD-1/command", {"command": "unlock"})
        assert status == 400 and "Fill in every field" in body
