"""Sites (issue 22): an installation of two sites over the real server and simulated chargers.
A manager of site A sees nothing of site B in pages, CSV and the API (B's objects answer 404,
the installation's pages 403); a driver's balance charged at site B is what site A sees; each
site's nightly report holds its own chargers, in its own time zone; the upgrade from the
schema before sites makes the one site from the box's settings and keeps everything."""

from __future__ import annotations

import dataclasses
import json
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.app import check_all, open_database
from appliance.config import load_settings
from appliance.db import maintenance
from appliance.db.models import Station
from appliance.db.models_money import Tariff
from appliance.db.models_people import AuditLog, StaffUser
from appliance.db.models_reports import DailyReport
from appliance.db.models_site import Site, SiteSetting
from appliance.db.site import defaults_from, load_site, save_site
from appliance.people.scope import set_staff_sites, sites_by_staff
from appliance.people.staff import create_staff
from appliance.people.tokens import create_token
from appliance.reports.nightly import run_day
from tests.conftest import Api, add_station
from tests.money_fixtures import INR_TARIFF, account, driver_with_card, site_tariff
from tests.staff_client import StaffClient, staff_client

PASSWORD = "a-good-password-1"


async def _login(server: TestServer, session: aiohttp.ClientSession, username: str, role: str,
                 sites: list[int]) -> StaffClient:
    database = server.app[keys.DATABASE]
    await database.run(create_staff, username, role, PASSWORD)
    await database.run(set_staff_sites, username, sites)
    client = StaffClient(session, server)
    status, _ = await client.post("/login", {"username": username, "password": PASSWORD},
                                  from_page="/login")
    assert status == 303
    return client


async def _site_token(server: TestServer, api: Api, site_id: int) -> Api:
    token = secrets.token_urlsafe(24)
    await server.app[keys.DATABASE].run(create_token, f"site-{site_id}", "admin", token, site_id)
    return Api(api.session, api.base, token)


async def _two_sites(server: TestServer, api: Api, charger: Any) -> dict[str, Any]:
    """Site B (Kolkata, its own tariff) beside the box's own site; one driver charges at B."""
    site_b = await api.post("/sites", {"site_name": "Site B", "legal_name": "B Charging Pvt Ltd",
                                       "timezone": "Asia/Kolkata", "nightly_time": "03:15"})
    await add_station(api, "A-1")
    await add_station(api, "B-1")
    await api.patch("/stations/B-1", {"site_id": site_b["id"]})
    await site_tariff(api)  # site A: 20.00 per kWh
    tariff_b = await api.post("/tariffs", {**INR_TARIFF, "energy_per_kwh": "30",
                                           "site_id": site_b["id"]})
    await api.post(f"/tariffs/{tariff_b['id']}/assignments", {"station_id": None})
    driver = await driver_with_card(api, "WANDER1", balance=100_000)
    async with charger("B-1", "secret-pass-1") as cp:
        await cp.boot()
        started = await cp.start_tx(1, "WANDER1", meter_start=0)
        await cp.stop(started.transaction_id, meter_stop=2_000)  # 2 kWh x 30.00 at site B
    async with charger("A-1", "secret-pass-1") as cp:
        await cp.boot()
        assert (await cp.authorize("WANDER1"))["status"] == "Accepted"
    [session_b] = (await api.get("/sessions?station_id=B-1"))["items"]
    return {"site_b": site_b["id"], "driver": driver, "session_b": session_b}


async def test_a_site_manager_sees_nothing_of_another_site(server: TestServer, api: Api,
                                                            charger: Any) -> None:
    made = await _two_sites(server, api, charger)
    site_b, driver, session_b = made["site_b"], made["driver"], made["session_b"]
    assert session_b["fee"]["amount"] == 6000  # site B's own tariff
    # The driver is the operator's: what was charged at B is what A's staff see, at once.
    a_api = await _site_token(server, api, 1)
    seen_at_a = await a_api.get(f"/drivers/{driver['id']}")
    assert seen_at_a["account"]["balance"]["amount"] == 100_000 - 6000
    assert (await account(api, driver["id"]))["balance"] == 100_000 - 6000

    # The API of a site A token: B's chargers, sessions, tariffs and reports do not exist.
    assert [s["id"] for s in (await a_api.get("/stations"))["items"]] == ["A-1"]
    assert (await a_api.get("/sessions"))["items"] == []
    assert (await a_api.get(f"/sessions?driver_id={driver['id']}"))["items"] == []
    assert [t["energy_per_kwh"] for t in (await a_api.get("/tariffs"))["items"]] == ["20"]
    for path in ("/stations/B-1", f"/sessions/{session_b['id']}", "/stations/B-1/daily",
                 "/stations/B-1/messages", f"/reports?site={site_b}"):
        assert (await a_api.request("GET", path))[0] == 404, path
    assert (await a_api.request("PATCH", "/stations/B-1", {"description": "x"}))[0] == 404
    assert (await a_api.request("GET", "/sites"))[0] == 403
    assert (await a_api.request("POST", "/sites", {"site_name": "Mine"}))[0] == 403

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        manager = await _login(server, session, "manager-a", "admin", [1])
        for path in ("/", "/stations", "/sessions", "/tariffs", "/audit", "/reports"):
            status, html = await manager.get(path)
            assert status == 200 and "B-1" not in html and "Site B" not in html, path
        status, html = await manager.get("/stations")
        assert "A-1" in html and 'href="/settings"' not in html
        status, csv = await manager.get("/sessions.csv")
        assert status == 200 and "B-1" not in csv
        status, html = await manager.get(f"/drivers/{driver['id']}")
        assert status == 200 and f"/sessions/{session_b['id']}" not in html
        for path in ("/stations/B-1", "/stations/B-1/days.csv", f"/sessions/{session_b['id']}",
                     "/stickers/B-1/1", f"/reports?site={site_b}"):
            assert (await manager.get(path))[0] == 404, path
        for path in ("/settings", "/staff", "/sites"):
            assert (await manager.get(path))[0] == 403, path
        status, _ = await manager.post("/stations/B-1/command", {"command": "reset_soft"},
                                       from_page="/stations")
        assert status == 404
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        desk_b = await _login(server, session, "desk-b", "desk", [site_b])
        status, html = await desk_b.get("/sessions")
        assert status == 200 and "B-1" in html and "A-1" not in html
        assert (await desk_b.get(f"/sessions/{session_b['id']}"))[0] == 200
        assert (await desk_b.get("/stations/A-1"))[0] == 404
        status, html = await desk_b.get("/")
        assert "Site B" in html  # its pages speak of its own site
    # The installation's admin sees both, and B's audit rows stay out of A's log.
    assert {s["id"] for s in (await api.get("/stations"))["items"]} == {"A-1", "B-1"}
    sites = {r.target: r.site_id for r in await server.app[keys.DATABASE].read(
        lambda: list(AuditLog.select().where(AuditLog.action == "station.site")))}
    assert sites == {"B-1": site_b}


async def test_each_site_has_its_own_nightly_report(server: TestServer, api: Api,
                                                    charger: Any) -> None:
    made = await _two_sites(server, api, charger)
    site_b = made["site_b"]
    database, settings = server.app[keys.DATABASE], server.app[keys.SETTINGS]
    jobs = server.app[keys.SCHEDULER].scheduler
    night_b = jobs.get_job(f"nightly-{site_b}")
    assert night_b is not None and str(night_b.trigger.timezone) == "Asia/Kolkata"
    assert "hour='3', minute='15'" in str(night_b.trigger)
    assert jobs.get_job("nightly") is not None  # the box's own site keeps its job
    moved = await api.request("PATCH", f"/sites/{site_b}", {"nightly_time": "04:05"})
    assert moved[0] == 200 and moved[1]["nightly_time"] == "04:05"
    assert "hour='4', minute='5'" in str(jobs.get_job(f"nightly-{site_b}").trigger)
    bad = await api.request("PATCH", f"/sites/{site_b}", {"timezone": "Mars/Olympus"})
    assert bad[0] == 400 and bad[1]["error"]["details"]["field"] == "timezone"
    today_a = datetime.now(UTC).astimezone(server.app[keys.SITE].tz).date()
    today_b = datetime.now(UTC).astimezone(
        (await database.read(load_site, defaults_from(settings), site_b)).tz).date()
    await run_day(database, settings, today_b, mail=False, site_id=site_b)
    await run_day(database, settings, today_a, mail=False)
    b_report = await api.get(f"/reports/{today_b}?site={site_b}")
    assert b_report["timezone"] == "Asia/Kolkata"
    assert [c["station"] for c in b_report["chargers"]] == ["B-1"]
    assert b_report["totals"]["fees"]["amount"] == 6000
    a_report = await api.get(f"/reports/{today_a}")
    assert [c["station"] for c in a_report["chargers"]] == ["A-1"]
    assert a_report["totals"]["fees"]["amount"] == 0
    # A site's staff read their site's report; the other site's does not exist for them.
    b_api = await _site_token(server, api, site_b)
    assert (await b_api.get(f"/reports/{today_b}"))["chargers"][0]["station"] == "B-1"
    assert (await b_api.request("GET", f"/reports/{today_a}?site=1"))[0] == 404
    rows = await database.read(lambda: sorted(
        (r.site_id, r.day.isoformat()) for r in DailyReport.select()))
    assert (1, today_a.isoformat()) in rows and (site_b, today_b.isoformat()) in rows
    assert (await b_api.get("/stations/B-1/daily"))["timezone"] == "Asia/Kolkata"
    # The installation's admin: the sites page, who works where, and a report per site.
    async with staff_client(server, "admin", "owner") as owner:
        await server.app[keys.DATABASE].run(create_staff, "clerk", "desk", PASSWORD)
        status, html = await owner.post("/sites", {"action": "staff", "username": "clerk",
                                                   "site": str(site_b)}, from_page="/sites")
        assert status == 200 and "Asia/Kolkata" in html and "B Charging Pvt Ltd" in html
        assert await database.read(sites_by_staff) == {
            (await database.read(lambda: StaffUser.get(StaffUser.username == "clerk").id)):
            [site_b]}
        status, html = await owner.get("/reports")
        assert status == 200 and f'href="/reports?site={site_b}"' in html
        status, html = await owner.get(f"/reports/{today_b}?site={site_b}")
        assert status == 200 and "B-1" in html and "A-1" not in html
        status, html = await owner.post("/tariffs", {"name": "B evening", "site": str(site_b),
                                                     "energy_per_kwh": "25"}, from_page="/tariffs")
        assert status == 200, html
        prices = sorted(t["energy_per_kwh"] for t in (await b_api.get("/tariffs"))["items"])
        assert prices == ["25", "30"]  # B's own two, none of A's (20)
        for day, cpid in ((today_a, "A-1"), (today_b, "B-1")):  # across every site
            status, html = await owner.get(f"/reports/summary?date={day}")
            assert status == 200 and cpid in html


@pytest.mark.sqlite_only("the upgrade is of a box's SQLite file")
def test_the_upgrade_makes_the_one_site_from_the_box_settings(tmp_path: Path,
                                                               monkeypatch: Any) -> None:
    data = tmp_path / "data"
    data.mkdir()
    settings = load_settings(environ={}, overrides={"data_dir": str(data)})
    before = tmp_path / "migrations"
    shutil.copytree(maintenance.MIGRATIONS_DIR, before,
                    ignore=shutil.ignore_patterns("__pycache__", "0022_*"))  # before sites
    monkeypatch.setattr(maintenance, "MIGRATIONS_DIR", before)
    database = open_database(settings)
    assert "site" not in database.db.get_tables()

    def insert(table: str, **values: Any) -> None:
        """A row as the old schema takes it (the models now know columns it has not)."""
        for _, name, kind, notnull, default, pk in database.db.execute_sql(
                f'PRAGMA table_info("{table}")').fetchall():
            if notnull and default is None and not pk and name not in values:
                values[name] = ("2026-11-01 10:00:00" if kind.startswith("DATE")
                                else "" if kind.startswith(("VARCHAR", "TEXT")) else 0)
        database.db.execute_sql(f'INSERT INTO "{table}" ({", ".join(values)}) VALUES '
                                f'({", ".join("?" * len(values))})', tuple(values.values()))

    def old_rows() -> None:
        insert("station", cpid="OLD-1", key="OLD-1", approved=1)
        for key, value in (("site_name", "Old Depot"), ("legal_name", "Depot Ltd"),
                           ("tax_id", "24ABCDE1234F1Z5"), ("timezone", "Asia/Kolkata"),
                           ("nightly_time", "01:45"), ("base_url", "http://192.168.1.20:8080"),
                           ("overdraft_default_minor", 500)):
            insert("site_setting", key=key, value=json.dumps(value), updated_by="staff:admin")
        insert("tariff", name="Old", currency="INR", energy_per_kwh="20")
        insert("daily_report", day="2026-11-01", data="{}")

    database.run_sync(old_rows)
    defaults = defaults_from(settings)
    stored = database.run_sync(lambda: dict(database.db.execute_sql(
        "SELECT key, value FROM site_setting").fetchall()))
    old = dataclasses.replace(defaults, **{k: json.loads(v) for k, v in stored.items()})
    database.db.close()
    monkeypatch.undo()
    database = open_database(settings)

    def after() -> dict[str, Any]:
        return {"sites": [(s.id, s.name, s.legal_name, s.tax_id, s.timezone, s.nightly_time,
                           s.base_url) for s in Site.select()],
                "stations": [s.site_id for s in Station.select()],
                "tariffs": [t.site_id for t in Tariff.select()],
                "reports": [(r.site_id, r.day.isoformat()) for r in DailyReport.select()],
                "settings": sorted(r.key for r in SiteSetting.select()),
                "loaded": load_site(defaults)}

    now = database.run_sync(after)
    assert now["sites"] == [(1, "Old Depot", "Depot Ltd", "24ABCDE1234F1Z5", "Asia/Kolkata",
                             "01:45", "http://192.168.1.20:8080")]
    assert now["stations"] == [1] and now["tariffs"] == [1]
    assert now["reports"] == [(1, "2026-11-01")]
    assert now["settings"] == ["overdraft_default_minor"]  # the site's own values moved
    assert now["loaded"] == old  # the box's pages read the very same settings
    saved = database.run_sync(save_site, defaults, {"site_name": "New Depot"}, "staff:admin")
    assert saved.site_name == "New Depot" and saved.tax_id == "24ABCDE1234F1Z5"
    report = check_all(database)
    assert report.ok, report.lines
    database.db.close()
