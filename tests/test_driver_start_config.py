"""The QR start does not ask the charger its ConnectionTimeOut on every start (a round trip
before RemoteStartTransaction): the connection keeps what it learned, from the configuration
read at boot, from our own accepted change, or from a first GetConfiguration; a charger that
reconnects is asked again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestServer
from ocpp.v16 import call_result

from appliance import keys
from appliance.db.models import StationNotice
from appliance.db.models_driver import QrStart
from tests.conftest import Api, add_station, eventually
from tests.driver_fixtures import driver_with_pin, phone
from tests.money_fixtures import site_tariff

PHONE = "+91 90000 00077"
CPID = "CTO-1"


def _refuse_remote_start(cp: Any) -> None:
    """The charger refuses: the start fails at once and frees its connector for the next."""
    async def answer(**kw: Any) -> call_result.RemoteStartTransaction:
        cp.received.append(("RemoteStartTransaction", kw))
        return call_result.RemoteStartTransaction(status="Rejected")

    cp.route_map["RemoteStartTransaction"]["_on_action"] = answer


def _asked(cp: Any) -> list[Any]:
    """The GetConfiguration calls that named ConnectionTimeOut (the boot's read names none)."""
    return [kw for action, kw in cp.received
            if action == "GetConfiguration" and "ConnectionTimeOut" in (kw.get("key") or [])]


def _waits() -> list[float]:
    """Each start's deadline after its creation: the ConnectionTimeOut it used, plus 30 s."""
    return [(s.deadline_at - s.created_at) / timedelta(seconds=1)
            for s in QrStart.select().order_by(QrStart.id)]


def _profile_done() -> bool:
    return StationNotice.select().where(StationNotice.kind == "managed_configuration").exists()


async def test_connection_timeout_known_per_connection(server: TestServer, api: Api,
                                                       charger: Any) -> None:
    await add_station(api, CPID, managed=True)  # managed: its configuration is read at boot
    await site_tariff(api)
    await driver_with_pin(server, api, PHONE, balance=20_000)
    database = server.app[keys.DATABASE]

    async def start(p: Any, cp: Any) -> None:
        sent = len([a for a, _ in cp.received if a == "RemoteStartTransaction"])
        _, html, _ = await p.start(CPID, 1)
        assert "The charger refused to start" in html
        assert len([a for a, _ in cp.received if a == "RemoteStartTransaction"]) == sent + 1

    async with phone(server) as p:
        await p.login(PHONE)
        async with charger(CPID, "secret-pass-1") as cp:
            cp.configuration["ConnectionTimeOut"] = "20"
            _refuse_remote_start(cp)
            await cp.boot()
            await eventually(lambda: database.read(_profile_done))
            await cp.status(1, "Available")
            await start(p, cp)
            await start(p, cp)
            assert _asked(cp) == []  # known from the boot's read
            # Our own accepted change is the value from then on, still without asking.
            await api.post(f"/stations/{CPID}/configuration",
                           {"values": {"ConnectionTimeOut": "45"}}, expect=200)
            await start(p, cp)
            assert _asked(cp) == []
        # Back without a boot (no configuration read): asked once, then known again.
        async with charger(CPID, "secret-pass-1") as cp:
            cp.configuration["ConnectionTimeOut"] = "5"
            _refuse_remote_start(cp)
            await cp.status(1, "Available")
            await start(p, cp)
            await start(p, cp)
            assert len(_asked(cp)) == 1
    assert await database.read(_waits) == [50.0, 50.0, 75.0, 35.0, 35.0]
