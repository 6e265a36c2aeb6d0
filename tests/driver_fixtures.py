"""Helpers for the driver page tests: a driver with a PIN and a balance, a phone-like HTTP client
(cookies, CSRF, form keys) for tests that need no JavaScript, and a charger on a site."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.billing.check import _check
from appliance.db.models_driver import QrStart
from appliance.db.models_money import Hold, LedgerEntry
from appliance.people.drivers import set_pin
from appliance.people.staff import hash_password
from tests.conftest import Api, add_station
from tests.money_fixtures import account, site_tariff

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
FORM_KEY = re.compile(r'name="form_key" value="([^"]+)"')
PIN = "4321"


async def driver_with_pin(server: TestServer, api: Api, phone: str, balance: int = 0,
                          name: str = "Ravi Kumar", pin: str = PIN) -> dict[str, Any]:
    driver = await api.post("/drivers", {"name": name, "phone": phone})
    if balance:
        await api.post(f"/drivers/{driver['id']}/topups", {"amount": balance, "method": "cash"})
    pin_hash = await asyncio.to_thread(hash_password, pin)
    await server.app[keys.DATABASE].run(set_pin, driver["id"], pin_hash, "test")
    return dict(driver)


async def site_with_charger(api: Api, cpid: str, **tariff: Any) -> dict[str, Any]:
    await add_station(api, cpid)
    return await site_tariff(api, **tariff)


class Phone:
    """A driver's phone without JavaScript: plain HTTP with cookies."""

    def __init__(self, session: aiohttp.ClientSession, server: TestServer) -> None:
        self.session, self.server = session, server

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def get(self, path: str) -> tuple[int, str, str]:
        """(status, text, final path) following redirects."""
        async with self.session.get(self.url(path)) as resp:
            return resp.status, await resp.text(), resp.url.path

    async def post(self, path: str, form: dict[str, Any], from_page: str
                   ) -> tuple[int, str, str]:
        _, html, _ = await self.get(from_page)
        match = CSRF.search(html)
        assert match, f"no CSRF token on {from_page}"
        data = {"csrf_token": match.group(1), **form}
        async with self.session.post(self.url(path), data=data) as resp:
            return resp.status, await resp.text(), resp.url.path

    async def login(self, identifier: str, pin: str = PIN) -> tuple[int, str, str]:
        return await self.post("/driver/login", {"identifier": identifier, "pin": pin,
                                                 "next": "/me"}, "/driver/login")

    async def form_key(self, path: str) -> str:
        _, html, _ = await self.get(path)
        match = FORM_KEY.search(html)
        assert match, f"no start form on {path}: {html[:400]}"
        return match.group(1)

    async def start(self, cpid: str, connector: int, key: str | None = None,
                    **limit: Any) -> tuple[int, str, str]:
        page = f"/c/{cpid}/{connector}"
        form = {"form_key": key or await self.form_key(page), **limit}
        return await self.post(f"{page}/start", form, page)


@asynccontextmanager
async def phone(server: TestServer) -> AsyncIterator[Phone]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield Phone(session, server)


async def ledger_true(server: TestServer) -> None:
    """`appliance check` agrees, and no hold is left open or captured without a live start."""
    checks = await server.app[keys.DATABASE].read(_check)
    assert all(ok for ok, _ in checks), checks


def _holds() -> list[tuple[str, int]]:
    return [(h.state, h.amount) for h in Hold.select().order_by(Hold.id)]


def _starts() -> list[tuple[str, str]]:
    return [(s.state, s.message) for s in QrStart.select().order_by(QrStart.id)]


def _kinds(account_id: int | None = None) -> list[tuple[str, int]]:
    query = LedgerEntry.select().order_by(LedgerEntry.id)
    return [(e.kind, e.amount) for e in query]


async def holds(server: TestServer) -> list[tuple[str, int]]:
    return await server.app[keys.DATABASE].read(_holds)


async def starts(server: TestServer) -> list[tuple[str, str]]:
    return await server.app[keys.DATABASE].read(_starts)


async def ledger_rows(server: TestServer) -> list[tuple[str, int]]:
    return await server.app[keys.DATABASE].read(_kinds)


__all__ = ["account", "Phone", "phone", "driver_with_pin", "site_with_charger", "ledger_true",
           "holds", "starts", "ledger_rows"]
