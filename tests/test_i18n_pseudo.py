"""No string left behind: every page, rendered in the pseudo-locale en_XA (each translated text
accented and in ⟦brackets⟧), shows no word of English outside the brackets other than data the
test itself put there (ids, names, units people keep as they are). A text that skipped gettext
fails here, naming the page and the words."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from html.parser import HTMLParser
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.billing import locallist
from appliance.db.models import ChargingSession, Station
from appliance.db.models_money import LedgerEntry
from appliance.db.models_payments import OnlinePayment
from appliance.errors import N_
from appliance.reports.nightly import run_day
from appliance.web import i18n
from tests.conftest import Api
from tests.driver_fixtures import PIN, Phone, driver_with_pin, site_with_charger
from tests.payments_fixtures import enable_providers
from tests.staff_client import StaffClient, staff_client

# Kept as they are in every language (the issue: kWh, OCPP, charger ids), and Babel's own
# English in the en_XA pseudo-locale's figures (it formats as en_IN).
KEPT = {"kWh", "kW", "Wh", "W", "OCPP", "INR", "CSV", "PIN", "QR", "UTC", "ID", "Wi", "Fi",
        "am", "pm", "AM", "PM", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sept",
        "Sep", "Oct", "Nov", "Dec", "hr", "hrs", "min", "mins", "sec", "secs", "s", "h", "m",
        "N", "A", "V", "RFID", "UID", "JSON", "API", "SSE", "SMTP", "URL", "HTTPS", "IANA",
        "ISO", "Asia", "Kolkata", "English"}
# What the test's own data shows: the site, the charger, the people and cards it made.
DATA = {"PSEUDO"}
BRACKETED = re.compile(r"⟦[^⟧]*⟧")
WORD = re.compile(r"[A-Za-z]+")
SKIP_TAGS = {"script", "style"}
VOID = {"input", "img", "br", "hr", "meta", "link"}
SHOWN_ATTRS = {"placeholder", "title", "aria-label", "alt"}


class VisibleText(HTMLParser):
    """Text a person sees: text nodes outside script and style, option labels, button values,
    and the attributes a browser shows (placeholder, title, aria-label, alt). Elements marked
    `translate="no"` (HTML's own mark for data: an id tag, an audit entry) are left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip = 0
        self._data: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("translate") == "no" and tag not in VOID:
            self._data.append(tag)
            self._skip += 1
        if tag in SKIP_TAGS:
            self._skip += 1
        if self._skip or values.get("translate") == "no":
            return
        self.chunks.extend(v for k, v in attrs if k in SHOWN_ATTRS and v)
        if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
            self.chunks.append(str(values["value"]))

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        if self._data and self._data[-1] == tag:
            self._data.pop()
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.chunks.append(data)


def untranslated(html: str, allowed: set[str]) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    found = []
    for chunk in parser.chunks:
        rest = BRACKETED.sub(" ", chunk)
        words = [w for w in WORD.findall(rest) if w not in allowed]
        if words:
            found.append(" ".join(rest.split()))
    return found


async def _pseudo_client(session: aiohttp.ClientSession, server: TestServer) -> None:
    session.cookie_jar.update_cookies({i18n.COOKIE: i18n.PSEUDO}, server.make_url("/"))


async def _seed(server: TestServer, api: Api, charger: Any) -> dict[str, Any]:
    """A site with a finished QR session, a top-up, a report day: every page has something."""
    # A banded tariff with an idle fee (the tariff page's bands, the phone's price now and its
    # idle warning), and both payment providers on (the pay form, the payments page).
    await site_with_charger(api, "PSEUDO-1", bands=[BAND], idle_per_hour="60",
                            idle_grace_min=15, idle_cap=20_000)
    await enable_providers(server, "razorpay", "stripe")
    async with staff_client(server, username="setup") as staff:
        status, _ = await staff.post("/settings", {"site_name": "સુરત ચાર્જિંગ"},
                                     from_page="/settings")
        assert status in (200, 303)
        # Load management: the charger in a feeder group (the power page's table, the charger
        # page's power group and what its sessions may draw, the dashboard's site power).
        for form in ({"action": "group", "name": "PSEUDO", "limit_a": "32", "phases": "3",
                      "min_a": "6", "default_a": "6", "commercial_first": "on"},
                     {"action": "member", "station": "PSEUDO-1", "group": "PSEUDO",
                      "max_a": "16"}):
            status, _ = await staff.post("/settings/power", form, from_page="/settings/power")
            assert status == 200
    driver = await driver_with_pin(server, api, "+91 90000 00077", balance=20_000,
                                   name="રવિ પટેલ")
    async with charger("PSEUDO-1", "secret-pass-1") as cp, \
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        phone = Phone(session, server)
        await cp.boot()
        await cp.status(1, "Preparing")
        await phone.login("9000000077", PIN)
        _, _, live = await phone.start("PSEUDO-1", 1)
        (sent,) = [kw for action, kw in cp.received if action == "RemoteStartTransaction"]
        started = await cp.start_tx(1, sent["id_tag"], meter_start=1000)
        await cp.status(1, "Charging")
        await cp.meter(1, started.transaction_id, 2500, power_w=7000)
        await cp.stop(started.transaction_id, meter_stop=4000, reason="Local")
        await cp.status(1, "Available")
    database, settings = server.app[keys.DATABASE], server.app[keys.SETTINGS]
    # A local list the charger could not hold whole (the charger page's local list state).
    await database.run(lambda: locallist.record_outcome(
        Station.get(Station.cpid == "PSEUDO-1").id, False, 3, 2, locallist.TOO_MANY))
    day = datetime.now(settings.tz).date()  # today's figures so far: enough for the pages
    await run_day(database, settings, day, mail=False)
    topup = await database.read(lambda: LedgerEntry.select().where(
        LedgerEntry.kind == "topup").first().id)
    session = await database.read(lambda: ChargingSession.select().where(
        ChargingSession.driver == driver["id"]).first().id)
    pay = await database.run(_walk_ins, day)
    return {"driver": driver, "live": live, "day": day.isoformat(), "topup": topup,
            "session": session, **pay}


def _walk_ins(day: date) -> dict[str, str]:
    """Walk-in payments: one waiting for the provider, one whose give-back keeps failing (the
    pay pages, and the payments page's list of money still going back)."""
    at = datetime.combine(day, time(12, 0))
    station = Station.get(Station.cpid == "PSEUDO-1")
    made = {}
    for name, state in (("pay_waiting", "created"), ("pay_back", "returning")):
        made[name] = OnlinePayment.create(
            provider="razorpay", token=f"pseudo-{state}", amount=10_000, currency="INR",
            station=station.id, connector_id=1, state=state, return_amount=4_000,
            payment_ref=f"pay_{state}" if state == "returning" else None,
            checkout_url="https://pay.example/x", attempts=int(state == "returning"),
            next_try_at=at if state == "returning" else None,
            last_error="HTTP 502" if state == "returning" else "",
            message=N_("The charger did not start.") if state == "returning" else "",
            created_at=at, updated_at=at).token
    return made


BAND = {"name": "PSEUDO", "days": "weekday", "start": "22:00", "end": "06:00",
        "energy_per_kwh": "8", "time_per_hour": "0"}
STAFF_PAGES = ["/", "/stations", "/stations/PSEUDO-1", "/desk", "/desk/learn", "/drivers",
               "/drivers/new", "/drivers/{driver}", "/drivers/{driver}/pin",
               "/drivers/{driver}/receipts/{topup}", "/cards", "/sessions", "/sessions/{session}",
               "/tariffs", "/settings", "/settings/payments", "/settings/certificates",
               "/settings/power", "/staff", "/audit", "/reports",
               "/reports/{day}", "/reports/summary?period=week&date={day}", "/stickers",
               "/stickers/PSEUDO-1/1"]
DRIVER_PAGES = ["/c/PSEUDO-1/1", "/me", "/me/pin", "{live}", "/me/receipts/{session}", "/scan"]
ANONYMOUS_PAGES = ["/login", "/driver/login", "/c/PSEUDO-1/1", "/scan", "/pay/{pay_waiting}",
                   "/pay/{pay_back}"]


async def test_every_page_goes_through_gettext(server: TestServer, api: Api,
                                               charger: Any) -> None:
    seeded = await _seed(server, api, charger)
    values = {"driver": seeded["driver"]["id"], "topup": seeded["topup"], "day": seeded["day"],
              "live": seeded["live"], "session": seeded["session"],
              "pay_waiting": seeded["pay_waiting"], "pay_back": seeded["pay_back"]}
    allowed = KEPT | DATA
    problems: dict[str, list[str]] = {}

    async def check(client: StaffClient | Phone, path: str) -> None:
        got = await client.get(path.format(**values))
        status, html = got[0], got[1]
        assert status == 200, (path, status, html[:300])
        assert "⟦" in html, path  # the page really is in the pseudo-locale
        found = untranslated(html, allowed)
        if found:
            problems[path] = found

    async with staff_client(server) as staff:
        await _pseudo_client(staff.session, server)
        for path in STAFF_PAGES:
            await check(staff, path)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        await _pseudo_client(session, server)
        phone = Phone(session, server)
        for path in ANONYMOUS_PAGES:
            await check(phone, path)
        await phone.login("9000000077", PIN)
        for path in DRIVER_PAGES:
            await check(phone, path)
    assert not problems, "\n".join(f"{p}: {found}" for p, found in problems.items())


def test_pseudo_keeps_placeholders_and_markup() -> None:
    assert i18n.pseudo("%(price)s per kWh") == "⟦%(price)s pér kWh⟧"
    assert "<b>" in i18n.pseudo("Total: <b>%(amount)s</b>")


async def test_printed_receipt_is_in_the_drivers_language(server: TestServer, api: Api) -> None:
    """A top-up receipt is printed for the driver: in the account's language, whatever the
    desk reads; a driver without one gets the desk's."""
    asha = await api.post("/drivers", {"name": "આશા પટેલ", "phone": "+91 90000 00088",
                                       "language": "gu"})
    ravi = await api.post("/drivers", {"name": "Ravi", "phone": "+91 90000 00099"})
    for driver in (asha, ravi):
        await api.post(f"/drivers/{driver['id']}/topups", {"amount": 50_000, "method": "cash"})
    topups = await server.app[keys.DATABASE].read(lambda: [
        e.id for e in LedgerEntry.select().where(LedgerEntry.kind == "topup")
        .order_by(LedgerEntry.id)])
    async with staff_client(server, role="desk") as desk:
        _, html = await desk.get(f"/drivers/{asha['id']}/receipts/{topups[0]}")
        assert "ટોપ-અપની રસીદ" in html and "રોકડ" in html and "₹500.00" in html
        _, html = await desk.get(f"/drivers/{ravi['id']}/receipts/{topups[1]}")
        assert "Top-up receipt" in html and "ટોપ-અપ" not in html


async def test_a_refused_start_is_explained_in_the_phones_language(server: TestServer, api: Api,
                                                                   charger: Any) -> None:
    await site_with_charger(api, "LOW-1")
    await driver_with_pin(server, api, "+91 90000 00055", balance=1_000)
    async with charger("LOW-1", "secret-pass-1") as cp, aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            headers={"Accept-Language": "hi-IN,hi;q=0.9,en;q=0.5"}) as session:
        await cp.boot()
        await cp.status(1, "Available")
        phone = Phone(session, server)
        status, html, _ = await phone.login("9000000055", "0000")
        assert status == 401 and "फ़ोन या कार्ड नंबर गलत है, या PIN गलत है।" in html
        await phone.login("9000000055", PIN)
        status, html, _ = await phone.start("LOW-1", 1)
        assert "यहाँ शुरू करने के लिए आपका बैलेंस कम है" in html, html[-800:]


async def test_a_settings_mistake_is_explained_in_the_managers_language(
        server: TestServer) -> None:
    async with staff_client(server) as staff:
        await staff.post("/language", {"language": "gu", "next": "/settings"})
        status, html = await staff.post("/settings", {"site_name": "S", "nightly_time": "25:99"},
                                        from_page="/settings")
        assert status == 400
        assert "રાતના કામનો સ્થાનિક સમય (HH:MM): 02:30 જેવો સમય લખો" in html
