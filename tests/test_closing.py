"""Sessions whose StopTransaction never comes: closed by staff or after stale_session_hours,
billed to the last meter value, settled once; a late StopTransaction changes nothing more."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.billing.closing import close_stale
from appliance.db.models import ChargingSession, utcnow
from tests.conftest import Api, add_station
from tests.money_fixtures import account, driver_with_card, site_tariff
from tests.staff_client import staff_client


def _age(session_id: int, hours: int) -> None:
    (ChargingSession.update(updated_at=utcnow() - timedelta(hours=hours))
     .where(ChargingSession.id == session_id).execute())


async def test_staff_close_and_stale_sweep(server: TestServer, api: Api, charger: Any) -> None:
    await add_station(api, "CLOSE-1")
    await site_tariff(api, energy_per_kwh="20", min_to_start=0)
    driver = await driver_with_card(api, "CLOSER01", balance=50_000)
    await driver_with_card(api, "CLOSER02", balance=50_000, name="B")
    async with charger("CLOSE-1", "secret-pass-1") as cp:
        await cp.boot()
        a = (await cp.start_tx(1, "CLOSER01", 1000)).transaction_id
        await cp.meter(1, a, 3000)
        b = (await cp.start_tx(2, "CLOSER02", 500)).transaction_id
        await cp.meter(2, b, 1500)
        await cp.boot()  # rebooted: both are suspect now
        sessions = {s["transaction_id"]: s for s in (await api.get("/sessions"))["items"]}
        assert {s["state"] for s in sessions.values()} == {"suspect"}
        async with staff_client(server) as staff:
            status, _ = await staff.post(f"/sessions/{sessions[a]['id']}/close", {},
                                         from_page=f"/sessions/{sessions[a]['id']}")
            assert status == 303
        closed = await api.get(f"/sessions/{sessions[a]['id']}")
        assert closed["state"] == "completed" and closed["energy_wh"] == 2000
        assert "closed_by_staff" in closed["flags"] and closed["fee"]["amount"] == 4000
        assert (await account(api, driver["id"]))["balance"] == 46_000
        # The other one is closed by the hourly sweep once it is old enough.
        database = server.app[keys.DATABASE]
        assert await database.run(close_stale, utcnow(), 48) == 0
        await database.run(_age, sessions[b]["id"], 49)
        assert await database.run(close_stale, utcnow(), 48) == 1
        swept = await api.get(f"/sessions/{sessions[b]['id']}")
        assert swept["state"] == "completed" and "closed_stale" in swept["flags"]
        assert swept["fee"]["amount"] == 2000
        # The StopTransaction arrives after all: applied once, it corrects the charge (2.5 kWh
        # now, one charge row and one correction; a repeat changes nothing).
        await cp.stop(a, meter_stop=3500)
        await cp.stop(a, meter_stop=3500)
    assert (await account(api, driver["id"]))["balance"] == 45_000
