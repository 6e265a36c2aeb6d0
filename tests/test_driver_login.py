"""Drivers' logins: phone or card number with a PIN; rate limited and locked after repeated
failures; the desk sets PINs and logs phones out; self-registration off by default; CSRF on
every form; one driver never sees another's start, receipt or stream."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.db.models_driver import DriverLogin
from appliance.db.site import defaults_from, save_site
from appliance.people import drivers as people_drivers
from tests.conftest import Api
from tests.driver_fixtures import PIN, driver_with_pin, phone, site_with_charger
from tests.staff_client import staff_client


async def test_phone_and_card_logins(server: TestServer, api: Api) -> None:
    driver = await driver_with_pin(server, api, "+91 90000 00031")
    await api.post(f"/drivers/{driver['id']}/cards", {"id_tag": "04A1B2C3", "mode": "commercial"})
    for identifier in ("+91 90000 00031", "9000000031", "04a1b2c3"):
        async with phone(server) as p:
            status, html, path = await p.login(identifier)
            assert path == "/me" and "Ravi Kumar" in html, identifier
    async with phone(server) as p:
        status, html, path = await p.login("9000000031", "9999")
        assert status == 401 and "wrong PIN" in html
        status, _, path = await p.get("/me")
        assert path == "/driver/login"  # not logged in: the login page, then back


async def test_lock_after_repeated_failures(server: TestServer, api: Api,
                                            monkeypatch: Any) -> None:
    monkeypatch.setattr(people_drivers, "LOCK_AFTER", 3)
    driver = await driver_with_pin(server, api, "+91 90000 00032")
    for attempt in range(3):
        async with phone(server) as p:
            # Each try from a fresh address key would still count against the driver's login.
            server.app[keys.THROTTLE]._failures.clear()
            status, html, _ = await p.login("9000000032", f"000{attempt}")
            assert status == 401
    assert "locked" in html
    server.app[keys.THROTTLE]._failures.clear()
    async with phone(server) as p:
        status, html, _ = await p.login("9000000032", PIN)  # the right PIN no longer opens
        assert status == 401 and "locked" in html
    async with staff_client(server, "desk") as desk:
        status, html = await desk.post(f"/drivers/{driver['id']}/pin", {"pin": "2468"},
                                       from_page=f"/drivers/{driver['id']}/pin")
        assert status == 200 and "PIN set" in html
    server.app[keys.THROTTLE]._failures.clear()
    async with phone(server) as p:
        _, _, path = await p.login("9000000032", "2468")
        assert path == "/me"


async def test_rate_limit(server: TestServer, api: Api) -> None:
    await driver_with_pin(server, api, "+91 90000 00033")
    async with phone(server) as p:
        for _ in range(5):
            await p.login("9000000033", "1111")
        status, html, _ = await p.login("9000000033", PIN)
        assert status == 401 and "Too many wrong PINs" in html


async def test_desk_logs_phones_out(server: TestServer, api: Api) -> None:
    driver = await driver_with_pin(server, api, "+91 90000 00034")
    async with phone(server) as p, staff_client(server, "desk") as desk:
        await p.login("9000000034")
        assert (await p.get("/me"))[2] == "/me"
        status, html = await desk.post(f"/drivers/{driver['id']}/pin/logout", {},
                                       from_page=f"/drivers/{driver['id']}/pin")
        assert status == 200 and "logged out" in html
        assert (await p.get("/me"))[2] == "/driver/login"  # the long-lived cookie is revoked
        # The driver changes their own PIN: this phone stays in, others are out.
        await p.login("9000000034")
        status, _, path = await p.post("/me/pin", {"pin": "8642", "pin_again": "8642"}, "/me/pin")
        assert path == "/me"
        assert (await p.get("/me"))[2] == "/me"
    login = await server.app[keys.DATABASE].read(
        lambda: DriverLogin.get(DriverLogin.driver == driver["id"]))
    assert login.pin_set_by == f"driver:{driver['id']}"


async def test_self_registration_is_a_setting(server: TestServer, api: Api) -> None:
    async with phone(server) as p:
        assert (await p.get("/driver/register"))[0] == 404
        settings = server.app[keys.SETTINGS]
        await server.app[keys.DATABASE].run(save_site, defaults_from(settings),
                                            {"self_registration": True}, "test")
        status, html, _ = await p.get("/driver/register")
        assert status == 200
        status, html, path = await p.post("/driver/register", {
            "name": "New Driver", "phone": "+91 90000 00035", "pin": "1357"}, "/driver/register")
        assert path == "/me" and "New Driver" in html


async def test_forms_need_csrf(server: TestServer, api: Api) -> None:
    await driver_with_pin(server, api, "+91 90000 00036")
    async with aiohttp.ClientSession() as session:
        async with session.post(server.make_url("/driver/login"),
                                data={"identifier": "9000000036", "pin": PIN}) as resp:
            assert resp.status == 403


async def test_drivers_see_only_their_own(server: TestServer, api: Api, charger: Any) -> None:
    await site_with_charger(api, "OWN-1")
    await driver_with_pin(server, api, "+91 90000 00037", balance=20_000, name="Owner")
    await driver_with_pin(server, api, "+91 90000 00038", balance=20_000, name="Other")
    async with charger("OWN-1", "secret-pass-1") as cp, phone(server) as a, phone(server) as b:
        await cp.boot()
        await cp.status(1, "Available")
        await a.login("9000000037")
        await b.login("9000000038")
        _, _, live = await a.start("OWN-1", 1)
        assert (await b.get(live))[0] == 404
        assert (await b.get(live + "/events"))[0] == 404
        status, _, _ = await b.post(live + "/stop", {}, "/me")
        assert status == 404
        # The owner's stream: the start's own snapshot, nothing else.
        async with a.session.get(a.url(live + "/events")) as resp:
            line = await asyncio.wait_for(resp.content.readline(), 5)
        assert line.startswith(b"data: {") and b'"state": "pending"' in line
