"""Races: two phones on one connector make one hold and one start; a double tap makes one; one
driver on two connectors at once with money for one gets one."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestServer

from tests.conftest import Api
from tests.driver_fixtures import driver_with_pin, holds, ledger_true, phone, site_with_charger


def _remote_starts(cp: Any) -> list[dict[str, Any]]:
    return [kw for action, kw in cp.received if action == "RemoteStartTransaction"]


async def test_two_phones_one_connector(server: TestServer, api: Api, charger: Any) -> None:
    await site_with_charger(api, "RACE-A")
    await driver_with_pin(server, api, "+91 90000 00021", balance=20_000, name="One")
    await driver_with_pin(server, api, "+91 90000 00022", balance=30_000, name="Two")
    async with charger("RACE-A", "secret-pass-1") as cp, phone(server) as a, phone(server) as b:
        await cp.boot()
        await cp.status(1, "Preparing")
        await a.login("9000000021")
        await b.login("9000000022")
        keys = [await a.form_key("/c/RACE-A/1"), await b.form_key("/c/RACE-A/1")]
        results = await asyncio.gather(a.start("RACE-A", 1, keys[0]),
                                       b.start("RACE-A", 1, keys[1]))
        assert len(_remote_starts(cp)) == 1
    statuses = sorted(r[0] for r in results)
    assert statuses == [200, 409], results
    loser = next(r for r in results if r[0] == 409)
    assert "Someone is starting this connector" in loser[1]
    assert len(await holds(server)) == 1
    await ledger_true(server)


async def test_double_tap_is_one_start(server: TestServer, api: Api, charger: Any) -> None:
    await site_with_charger(api, "RACE-B")
    await driver_with_pin(server, api, "+91 90000 00023", balance=20_000)
    async with charger("RACE-B", "secret-pass-1") as cp, phone(server) as p:
        await cp.boot()
        await cp.status(1, "Available")
        await p.login("9000000023")
        key = await p.form_key("/c/RACE-B/1")
        results = await asyncio.gather(*(p.start("RACE-B", 1, key) for _ in range(3)))
        assert len(_remote_starts(cp)) == 1
    assert {r[2] for r in results} == {results[0][2]}  # all land on the same live page
    assert results[0][2].startswith("/driver/starts/")
    assert await holds(server) == [("open", 20_000)]
    await ledger_true(server)


async def test_one_driver_two_connectors_money_for_one(server: TestServer, api: Api,
                                                       charger: Any) -> None:
    await site_with_charger(api, "RACE-C")  # 50.00 minimum to start
    await driver_with_pin(server, api, "+91 90000 00024", balance=8_000)
    async with charger("RACE-C", "secret-pass-1") as cp, phone(server) as p, \
            phone(server) as tablet:
        await cp.boot()
        await cp.status(1, "Available")
        await cp.status(2, "Available")
        await p.login("9000000024")
        await tablet.login("9000000024")
        results = await asyncio.gather(
            p.start("RACE-C", 1, limit_kind="amount", limit="50"),
            tablet.start("RACE-C", 2, limit_kind="amount", limit="50"))
        assert len(_remote_starts(cp)) == 1
    assert sorted(r[0] for r in results) == [200, 422], results
    assert await holds(server) == [("open", 5_000)]
    await ledger_true(server)
