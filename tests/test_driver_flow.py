"""A QR start without a browser: the hold commits before RemoteStartTransaction, the charger's
StartTransaction with the start's own tag captures it, and settlement releases it and charges the
fee; the watchdog stops at the driver's limit."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer

from tests.conftest import Api, eventually
from tests.driver_fixtures import (
    account,
    driver_with_pin,
    holds,
    ledger_rows,
    ledger_true,
    phone,
    site_with_charger,
    starts,
)


def _remote_starts(cp: Any) -> list[dict[str, Any]]:
    return [kw for action, kw in cp.received if action == "RemoteStartTransaction"]


async def test_start_capture_settle(server: TestServer, api: Api, charger: Any) -> None:
    await site_with_charger(api, "QR-1")
    driver = await driver_with_pin(server, api, "+91 90000 00001", balance=20_000)
    async with charger("QR-1", "secret-pass-1") as cp, phone(server) as p:
        await cp.boot()
        await cp.status(1, "Preparing")  # plugged in first, then scanned: free to start
        status, _, path = await p.login("9000000001")
        assert (status, path) == (200, "/me")
        status, html, path = await p.start("QR-1", 1)
        assert path.startswith("/driver/starts/"), html
        assert await holds(server) == [("open", 20_000)]
        (sent,) = _remote_starts(cp)
        tag = sent["id_tag"]
        assert sent["connector_id"] == 1 and tag.startswith("QR-")
        assert (await cp.authorize(tag))["status"] == "Accepted"
        started = await cp.start_tx(1, tag, meter_start=1000)
        assert started.id_tag_info["status"] == "Accepted"
        assert started.id_tag_info["parent_id_tag"] == driver["group_tag"]
        assert await holds(server) == [("captured", 20_000)]
        await cp.meter(1, started.transaction_id, 3500, power_w=7000)
        _, html, _ = await p.get(path)
        assert "2.50" in html  # kWh so far
        await cp.stop(started.transaction_id, meter_stop=4000, reason="EVDisconnected")
    # 3 kWh at 20.00 = 60.00: one charge, the hold released whole.
    assert await holds(server) == [("released", 20_000)]
    assert await ledger_rows(server) == [("topup", 20_000), ("hold", 20_000),
                                         ("charge", -6_000), ("release", -20_000)]
    assert (await account(api, driver["id"]))["balance"] == 14_000
    assert [s[0] for s in await starts(server)] == ["started"]
    await ledger_true(server)


async def test_watchdog_stops_at_the_limit(server: TestServer, api: Api, charger: Any) -> None:
    await site_with_charger(api, "QR-2")
    await driver_with_pin(server, api, "+91 90000 00002", balance=50_000)
    async with charger("QR-2", "secret-pass-1") as cp, phone(server) as p:
        await cp.boot()
        await cp.status(1, "Available")
        await p.login("+919000000002")
        _, html, path = await p.start("QR-2", 1, limit_kind="amount", limit="100")
        assert await holds(server) == [("open", 10_000)], html
        tag = _remote_starts(cp)[0]["id_tag"]
        started = await cp.start_tx(1, tag, meter_start=0)
        tx = started.transaction_id
        await cp.meter(1, tx, 3000, power_w=1000)  # 60.00 + a minute at 1 kW: under 100.00
        assert not [a for a, _ in cp.received if a == "RemoteStopTransaction"]
        await cp.meter(1, tx, 4900, power_w=11_000)  # 98.00 + 3.67 reaches the 100.00 hold

        async def stop_sent() -> bool:
            return ("RemoteStopTransaction", {"transaction_id": tx}) in cp.received

        await eventually(stop_sent)
        await cp.stop(tx, meter_stop=5000, reason="Remote")
    assert await holds(server) == [("released", 10_000)]
    await ledger_true(server)


async def test_energy_limit(server: TestServer, api: Api, charger: Any) -> None:
    await site_with_charger(api, "QR-3")
    await driver_with_pin(server, api, "+91 90000 00003", balance=50_000)
    async with charger("QR-3", "secret-pass-1") as cp, phone(server) as p:
        await cp.boot()
        await cp.status(1, "Available")
        await p.login("9000000003")
        await p.start("QR-3", 1, limit_kind="kwh", limit="2")
        assert await holds(server) == [("open", 5_000)]  # 40.00 x 1.25
        tag = _remote_starts(cp)[0]["id_tag"]
        tx = (await cp.start_tx(1, tag, meter_start=0)).transaction_id
        await cp.meter(1, tx, 1000, power_w=0)
        assert not [a for a, _ in cp.received if a == "RemoteStopTransaction"]
        await cp.meter(1, tx, 2000, power_w=0)

        async def stop_sent() -> bool:
            return ("RemoteStopTransaction", {"transaction_id": tx}) in cp.received

        await eventually(stop_sent)
        await cp.stop(tx, meter_stop=2000, reason="Remote")
    await ledger_true(server)
