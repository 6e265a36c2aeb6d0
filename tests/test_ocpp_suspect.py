"""A session whose station reboots, or reports its connector Available, without a
StopTransaction is suspect; a StopTransaction that arrives later corrects it."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, add_station


async def test_reboot_and_available_make_sessions_suspect(api: Api, charger: Any) -> None:
    await add_station(api, "SUS-1")
    await api.post("/cards", {"id_tag": "T1"})
    await api.post("/cards", {"id_tag": "T2"})
    async with charger("SUS-1", "secret-pass-1") as cp:
        await cp.boot()
        a = (await cp.start_tx(1, "T1", 100)).transaction_id
        b = (await cp.start_tx(2, "T2", 100)).transaction_id
        await cp.status(2, "Available")  # connector 2 free while b is open
        by_tx = {s["transaction_id"]: s for s in (await api.get("/sessions"))["items"]}
        assert by_tx[a]["state"] == "active"
        assert by_tx[b]["state"] == "suspect" and "available_while_open" in by_tx[b]["flags"]
        await cp.boot()  # rebooted without stopping a
        by_tx = {s["transaction_id"]: s for s in (await api.get("/sessions"))["items"]}
        assert by_tx[a]["state"] == "suspect" and "rebooted" in by_tx[a]["flags"]
        # A suspect session blocks nothing: T1 may start again at once.
        again = await cp.start_tx(1, "T1", 300)
        assert again.id_tag_info["status"] == "Accepted"
        # The late StopTransaction corrects the suspect session.
        await cp.stop(a, meter_stop=250)
    by_tx = {s["transaction_id"]: s for s in (await api.get("/sessions"))["items"]}
    assert by_tx[a]["state"] == "completed" and by_tx[a]["energy_wh"] == 150
