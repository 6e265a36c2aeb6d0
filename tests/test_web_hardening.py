"""Issue 15, points 14-18: what a page elsewhere, a stolen or old cookie, a crafted `next` and a
stranger guessing passwords from another address can do to staff and drivers, and the headers
every answer carries. Each test is the attack, against the real app on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from appliance import keys
from appliance.db.models import utcnow
from appliance.people.staff import create_staff
from tests.conftest import Api
from tests.driver_fixtures import CSRF, PIN, driver_with_pin, phone
from tests.staff_client import staff_client

STAFF_COOKIE, DRIVER_COOKIE = "appliance_session", "appliance_driver"


@asynccontextmanager
async def client_from(address: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A browser on another machine of the LAN: its own cookies, its own source address."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector,
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def post_form(session: aiohttp.ClientSession, server: TestServer, path: str,
                    form: dict[str, str], from_page: str) -> aiohttp.ClientResponse:
    """A form post as the site's own page sends it (CSRF token from the page); no redirects."""
    async with session.get(server.make_url(from_page)) as resp:
        match = CSRF.search(await resp.text())
    assert match, from_page
    async with session.post(server.make_url(path), data={"csrf_token": match.group(1), **form},
                            allow_redirects=False) as resp:
        await resp.read()
        return resp


async def replay(server: TestServer, name: str, value: str, path: str) -> tuple[int, str]:
    """A copy of a cookie used from a fresh browser: (status, Location) without redirects."""
    async with aiohttp.ClientSession(cookies={name: value}) as session:
        async with session.get(server.make_url(path), allow_redirects=False) as resp:
            return resp.status, resp.headers.get("Location", "")


def cookie(session: aiohttp.ClientSession, server: TestServer, name: str) -> str:
    jar = session.cookie_jar.filter_cookies(server.make_url("/"))
    assert name in jar, f"no {name} cookie"
    return jar[name].value


# --- 14: CSRF on the JSON API -------------------------------------------------------------------
async def test_api_refuses_the_staff_cookie(server: TestServer, api: Api) -> None:
    """A page elsewhere posts text/plain to the API in a logged-in admin's browser: the browser
    sends the cookie, but the API answers only Bearer tokens, so nothing is booked."""
    driver = await api.post("/drivers", {"name": "Target", "phone": "+91 90000 00141"})
    async with staff_client(server, "admin") as admin:
        body = json.dumps({"amount": 50_000, "method": "cash"})
        async with admin.session.post(
                admin.url(f"/api/v1/drivers/{driver['id']}/topups"), data=body,
                headers={"Content-Type": "text/plain", "Origin": "http://evil.example"}) as resp:
            assert resp.status == 401, await resp.text()
        async with admin.session.get(admin.url("/api/v1/cards")) as resp:
            assert resp.status == 401  # reading with the cookie alone is refused too
    assert (await api.get(f"/drivers/{driver['id']}"))["account"]["balance"]["amount"] == 0


# --- 15: sessions end on the server ---------------------------------------------------------------
async def test_staff_logout_ends_the_session(server: TestServer) -> None:
    async with staff_client(server, "desk") as desk:
        value = cookie(desk.session, server, STAFF_COOKIE)
        assert (await replay(server, STAFF_COOKIE, value, "/"))[0] == 200
        status, _ = await desk.post("/logout", {})
        assert status == 303
    status, location = await replay(server, STAFF_COOKIE, value, "/")
    assert status == 303 and location.startswith("/login")


async def test_reset_disable_and_logout_everywhere_end_every_session(server: TestServer) -> None:
    async with staff_client(server, "admin") as admin, \
            staff_client(server, "desk", "clerk") as first:
        async with client_from("127.0.0.1") as second:
            resp = await post_form(second, server, "/login",
                                   {"username": "clerk", "password": "a-good-password-1"},
                                   "/login")
            assert resp.status == 303
            cookies = [cookie(first.session, server, STAFF_COOKIE),
                       cookie(second, server, STAFF_COOKIE)]
            assert cookies[0] != cookies[1]
            # Logout everywhere from the second browser ends the first one's session too.
            resp = await post_form(second, server, "/logout/everywhere", {}, "/")
            assert resp.status == 303
            for value in cookies:
                assert (await replay(server, STAFF_COOKIE, value, "/"))[0] == 303
        # A password reset by an admin ends the sessions made with the old password.
        await first.post("/login", {"username": "clerk", "password": "a-good-password-1"},
                         from_page="/login")
        value = cookie(first.session, server, STAFF_COOKIE)
        assert (await replay(server, STAFF_COOKIE, value, "/"))[0] == 200
        status, html = await admin.post("/staff", {"action": "reset", "username": "clerk"},
                                        from_page="/staff")
        assert status == 200 and "new password" in html
        assert (await replay(server, STAFF_COOKIE, value, "/"))[0] == 303
        # A role change ends the sessions made under the old role.
        status, _ = await first.post("/login", {"username": "clerk", "password": html.split(
            "new password ")[1].split(" ")[0]}, from_page="/login")
        assert status == 303
        value = cookie(first.session, server, STAFF_COOKIE)
        status, _ = await admin.post("/staff", {"action": "role", "username": "clerk",
                                                "role": "admin"}, from_page="/staff")
        assert status == 200
        assert (await replay(server, STAFF_COOKIE, value, "/"))[0] == 303
        # Disabling, then enabling again, does not bring an old session back.
        await server.app[keys.DATABASE].run(create_staff, "night", "desk", "a-good-password-2")
        async with client_from("127.0.0.1") as night:
            resp = await post_form(night, server, "/login",
                                   {"username": "night", "password": "a-good-password-2"},
                                   "/login")
            value = cookie(night, server, STAFF_COOKIE)
        for action in ("disable", "enable"):
            status, _ = await admin.post("/staff", {"action": action, "username": "night"},
                                         from_page="/staff")
            assert status == 200
        assert (await replay(server, STAFF_COOKIE, value, "/"))[0] == 303


async def test_driver_logout_ends_the_session(server: TestServer, api: Api) -> None:
    await driver_with_pin(server, api, "+91 90000 00151")
    async with phone(server) as p:
        _, _, path = await p.login("9000000151")
        assert path == "/me"
        value = cookie(p.session, server, DRIVER_COOKIE)
        assert (await replay(server, DRIVER_COOKIE, value, "/me"))[0] == 200
        _, _, path = await p.post("/driver/logout", {}, "/me")
        assert path == "/driver/login"
    status, location = await replay(server, DRIVER_COOKIE, value, "/me")
    assert status == 303 and location.startswith("/driver/login")


async def test_driver_sessions_slide_and_expire(server: TestServer, api: Api) -> None:
    """Idle for longer than the idle limit: logged out. Used within it: the limit moves on."""
    from appliance.db.models_people import LoginSession
    from appliance.people.sessions import DRIVER_IDLE

    def age(days: float) -> None:
        """As if `days` had passed since the phone last used its session."""
        for row in LoginSession.select().where(LoginSession.kind == "driver"):
            back = timedelta(days=days) - (utcnow() - row.seen_at)
            LoginSession.update(created_at=row.created_at - back, seen_at=row.seen_at - back,
                                expires_at=row.expires_at - back).where(
                LoginSession.id == row.id).execute()

    def seen() -> float:
        row = LoginSession.get(LoginSession.kind == "driver")
        return (utcnow() - row.seen_at).total_seconds()

    await driver_with_pin(server, api, "+91 90000 00152")
    database = server.app[keys.DATABASE]
    async with phone(server) as p:
        await p.login("9000000152")
        value = cookie(p.session, server, DRIVER_COOKIE)
    await database.run(age, DRIVER_IDLE.days - 1)
    assert (await replay(server, DRIVER_COOKIE, value, "/me"))[0] == 200
    assert await database.read(seen) < 60  # the visit moved the idle limit on
    await database.run(age, DRIVER_IDLE.days + 1)
    assert (await replay(server, DRIVER_COOKIE, value, "/me"))[0] == 303


# --- 16: open redirects --------------------------------------------------------------------------
HOSTILE_NEXT = ["/\t/evil.example", "/\n/evil.example", "//evil.example", "/\\evil.example",
                "\\/evil.example", " //evil.example", "https://evil.example/", "/\r\n/evil.example",
                "javascript:alert(1)", "/%09/evil.example/x"]


def same_origin(location: str) -> bool:
    from yarl import URL

    url = URL(location)
    return (not url.scheme and not url.host and location.startswith("/")
            and not location.startswith(("//", "/\\")))


@pytest.mark.parametrize("target", HOSTILE_NEXT)
async def test_staff_login_redirects_only_to_this_site(server: TestServer, target: str) -> None:
    await server.app[keys.DATABASE].run(create_staff, "redir", "desk", "a-good-password-1")
    async with client_from("127.0.0.1") as session:
        resp = await post_form(session, server, "/login", {
            "username": "redir", "password": "a-good-password-1", "next": target}, "/login")
        assert resp.status == 303
        assert same_origin(resp.headers["Location"]), resp.headers["Location"]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
async def test_driver_login_redirects_only_to_this_site(server: TestServer, api: Api,
                                                        target: str) -> None:
    await driver_with_pin(server, api, "+91 90000 00161")
    async with client_from("127.0.0.1") as session:
        resp = await post_form(session, server, "/driver/login", {
            "identifier": "9000000161", "pin": PIN, "next": target}, "/driver/login")
        assert resp.status == 303
        assert same_origin(resp.headers["Location"]), resp.headers["Location"]


# --- 17: no lock-out from another address -------------------------------------------------------
async def test_wrong_passwords_elsewhere_do_not_lock_staff_out(server: TestServer) -> None:
    await server.app[keys.DATABASE].run(create_staff, "boss", "admin", "a-good-password-1")
    async with client_from("127.0.0.2") as stranger:
        for _ in range(8):
            resp = await post_form(stranger, server, "/login",
                                   {"username": "boss", "password": "guess-guess-1"}, "/login")
            assert resp.status == 401
        resp = await post_form(stranger, server, "/login",
                               {"username": "boss", "password": "a-good-password-1"}, "/login")
        assert resp.status == 401  # the guessing address itself waits
    async with client_from("127.0.0.1") as desk:
        resp = await post_form(desk, server, "/login",
                               {"username": "boss", "password": "a-good-password-1"}, "/login")
        assert resp.status == 303


async def test_wrong_pins_elsewhere_do_not_lock_a_driver_out(server: TestServer,
                                                             api: Api) -> None:
    await driver_with_pin(server, api, "+91 90000 00171")
    async with client_from("127.0.0.2") as stranger:
        for _ in range(6):
            resp = await post_form(stranger, server, "/driver/login",
                                   {"identifier": "9000000171", "pin": "0000"}, "/driver/login")
            assert resp.status == 401
    async with client_from("127.0.0.1") as own:
        resp = await post_form(own, server, "/driver/login",
                               {"identifier": "9000000171", "pin": PIN}, "/driver/login")
        assert resp.status == 303 and resp.headers["Location"] == "/me"


async def test_pin_guessed_from_many_addresses_locks_and_desk_unlocks(server: TestServer,
                                                                      api: Api) -> None:
    """A PIN is guessable, so failures from every address add up to a hard lock; the desk
    unlocks it from the driver's page without changing the PIN."""
    from appliance.people.drivers import LOCK_AFTER

    driver = await driver_with_pin(server, api, "+91 90000 00172")
    for n in range(LOCK_AFTER):
        async with client_from(f"127.0.1.{n + 1}") as stranger:
            resp = await post_form(stranger, server, "/driver/login",
                                   {"identifier": "9000000172", "pin": f"{n:04d}"},
                                   "/driver/login")
            assert resp.status == 401
    async with client_from("127.0.0.1") as own:
        resp = await post_form(own, server, "/driver/login",
                               {"identifier": "9000000172", "pin": PIN}, "/driver/login")
        assert resp.status == 401
    async with staff_client(server, "desk") as desk:
        page = f"/drivers/{driver['id']}/pin"
        status, html = await desk.get(page)
        assert status == 200 and "locked" in html.lower()
        status, html = await desk.post(page + "/unlock", {}, from_page=page)
        assert status == 200 and "unlocked" in html.lower()
    async with client_from("127.0.0.1") as own:
        resp = await post_form(own, server, "/driver/login",
                               {"identifier": "9000000172", "pin": PIN}, "/driver/login")
        assert resp.status == 303


# --- 18: headers on every answer -----------------------------------------------------------------
async def test_every_answer_says_nosniff_and_a_referrer_policy(server: TestServer) -> None:
    paths = ["/healthz", "/login", "/static/confirm.js", "/no/such/page", "/api/v1/cards",
             "/api/v1/openapi.json", "/driver/login", "/me", "/", "/ocpp/CP-NONE"]
    async with aiohttp.ClientSession() as session:
        for path in paths:
            async with session.get(server.make_url(path), allow_redirects=False) as resp:
                assert resp.headers.get("X-Content-Type-Options") == "nosniff", path
                assert resp.headers.get("Referrer-Policy") in (
                    "same-origin", "no-referrer", "strict-origin-when-cross-origin"), path
        async with session.post(server.make_url("/login"), data={}) as resp:
            assert resp.status == 403  # the CSRF refusal is an answer too
            assert resp.headers.get("X-Content-Type-Options") == "nosniff"


@hypothesis_settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("/\\\t\n\r :.@%?#aZ\x00\x0b\x1f\u3000"), max_size=12))
def test_any_next_stays_on_this_site(target: str) -> None:
    """Whatever `next` holds, where a browser lands (the Location as aiohttp writes it, resolved
    against the page) is this box."""
    from yarl import URL

    from appliance.web.security import safe_next

    landed = URL("http://box.lan/login").join(URL(safe_next(target)))
    assert landed.host == "box.lan" and landed.scheme == "http", (target, landed)
