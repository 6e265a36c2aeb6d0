"""`/healthz` on both backends: a SQLite box is its own leader and keeps no lease rows (none of
the hosted machinery runs); on PostgreSQL a lone process takes the leader lock and holds a
lease on the charger connected to it, given back when the charger leaves."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.db.models_cluster import ChargerLease
from tests.conftest import Api, add_station, eventually


async def _health(server: TestServer) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, \
            session.get(server.make_url("/healthz")) as resp:
        assert resp.status == 200
        return dict(await resp.json())


async def test_healthz_leader_and_chargers(server: TestServer, api: Api, charger: Any) -> None:
    database = server.app[keys.DATABASE]
    hosted = not database.is_sqlite
    assert (keys.NODE in server.app) is hosted
    await add_station(api, "HB-1")

    async def leader() -> bool:
        return bool((await _health(server))["leader"])
    await eventually(leader)
    assert (await _health(server))["chargers"] == 0
    async with charger("HB-1", password="secret-pass-1") as cp:
        await cp.boot()
        health = await _health(server)
        assert health["chargers"] == 1 and health["leader"] is True
        leases = await database.read(lambda: ChargerLease.select().count())
        assert leases == (1 if hosted else 0)

    async def gone() -> bool:  # the lease is given back just after the socket closes
        return ((await _health(server))["chargers"] == 0
                and await database.read(lambda: ChargerLease.select().count()) == 0)
    await eventually(gone)
