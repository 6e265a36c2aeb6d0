"""A charger boots, reports, authorizes, runs a transaction; the stored energy is right."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, add_station


async def test_full_session(api: Api, charger: Any) -> None:
    await add_station(api, "CP-1", "secret-pass-1")
    await api.post("/cards", {"id_tag": "CARD0001"})
    async with charger("CP-1", "secret-pass-1") as cp:
        boot = await cp.boot()
        assert boot.status == "Accepted" and boot.interval == 300
        assert boot.current_time.endswith("Z") and len(boot.current_time) == 24
        await cp.status(1, "Available")
        await cp.status(1, "Preparing")
        assert (await cp.authorize("card0001"))["status"] == "Accepted"  # CiString: any case
        started = await cp.start_tx(1, "CARD0001", meter_start=1000)
        assert started.id_tag_info["status"] == "Accepted"
        tx = started.transaction_id
        assert 0 < tx < 2**31
        await cp.status(1, "Charging")
        await cp.meter(1, tx, 1500, power_w=7200)
        await cp.meter(1, tx, 2.1, unit="kWh")
        live = (await api.get("/sessions?station_id=CP-1"))["items"][0]
        assert live["state"] == "active" and live["energy_wh"] == 1100
        stopped = await cp.stop(tx, meter_stop=2500, id_tag="CARD0001")
        assert stopped.id_tag_info["status"] == "Accepted"
    sessions = (await api.get("/sessions?station_id=cp-1"))["items"]
    assert len(sessions) == 1
    session = await api.get(f"/sessions/{sessions[0]['id']}")
    assert session["transaction_id"] == tx
    assert session["energy_wh"] == 1500
    assert session["state"] == "completed" and session["flags"] == []
    assert session["stop_reason"] == "Local"
    energy = [s["value"] for s in session["samples"]
              if s["measurand"] == "Energy.Active.Import.Register"]
    assert energy == [1500.0, 2100.0]
    station = await api.get("/stations/CP-1")
    assert station["vendor"] == "TestVendor" and station["model"] == "SimCP-2"
    assert station["connectors"][0]["status"] == "Charging"
    assert station["num_connectors"] == 1


async def test_tag_statuses(api: Api, charger: Any) -> None:
    await add_station(api, "CP-2", "secret-pass-2")
    await api.post("/cards", {"id_tag": "BLOCKED1", "status": "Blocked"})
    await api.post("/cards", {"id_tag": "OLDCARD1", "expiry": "2020-01-01T00:00:00Z"})
    await api.post("/cards", {"id_tag": "CHILD001", "parent_id_tag": "GROUP001"})
    async with charger("CP-2", "secret-pass-2") as cp:
        await cp.boot()
        assert (await cp.authorize("NOBODY01"))["status"] == "Invalid"
        assert (await cp.authorize("BLOCKED1"))["status"] == "Blocked"
        assert (await cp.authorize("OLDCARD1"))["status"] == "Expired"
        child = await cp.authorize("CHILD001")
        assert child == {"status": "Accepted", "parent_id_tag": "GROUP001"}
        first = await cp.start_tx(1, "CHILD001", 0)
        second = await cp.start_tx(2, "child001", 0)
        assert first.id_tag_info["status"] == "Accepted"
        assert second.id_tag_info["status"] == "ConcurrentTx"
        # Unknown tags are answered Invalid and listed for staff.
        unknown = await cp.start_tx(2, "NOBODY01", 5)
        assert unknown.id_tag_info["status"] == "Invalid" and unknown.transaction_id > 0
    listed = (await api.get("/cards/unknown"))["items"]
    assert [(u["id_tag"], u["station_id"], u["count"]) for u in listed] == [
        ("NOBODY01", "CP-2", 2)]
    await api.post("/cards", {"id_tag": "nobody01"})
    assert (await api.get("/cards/unknown"))["items"] == []
