"""`/healthz` on both backends: a SQLite box is its own leader and keeps no lease rows (none of
the hosted machinery runs); on PostgreSQL a lone process takes the leader lock and holds a
lease on the charger connected to it, given back when the charger leaves; a process whose
LISTEN connection died reads again what it follows from events."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import psycopg
import pytest
from aiohttp.test_utils import TestServer

from appliance import events, keys
from appliance.db.models_cluster import ChargerLease
from appliance.db.site import defaults_from, save_site
from tests.conftest import Api, add_station, eventually
from tests.pg import backend


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


@pytest.mark.skipif(backend() != "postgresql", reason="LISTEN is PostgreSQL's")
async def test_a_process_whose_listen_connection_died_reads_again_what_it_follows(
        server: TestServer, settings: Any) -> None:
    """Hosted: what other processes NOTIFY while this one's LISTEN connection is down is lost
    (here: site settings another process saved). Once it listens again it tells whatever
    follows events (`Resync`) and reads its settings again; before, it kept the old ones
    until the next save."""
    app = server.app
    defaults = defaults_from(app[keys.SETTINGS])
    # Saved as another process saves it; its notice never reaches this one.
    await app[keys.DATABASE].run(save_site, defaults, {"site_name": "Saved elsewhere"}, "other")
    assert app[keys.SITE].site_name != "Saved elsewhere"
    async with app[keys.EVENTS].subscribe((events.Resync,)) as heard:
        async with await psycopg.AsyncConnection.connect(settings.database_url,
                                                         autocommit=True) as conn:
            cur = await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                "application_name = 'appliance-listen' AND datname = current_database()")
            assert [row[0] for row in await cur.fetchall()] == [True]
        assert isinstance(await asyncio.wait_for(heard.get(), 10), events.Resync)

    async def read_again() -> bool:
        return bool(app[keys.SITE].site_name == "Saved elsewhere")

    await eventually(read_again)
