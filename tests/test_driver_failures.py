"""Every way a QR start fails says so plainly and leaves no money held: charger offline,
connector occupied or faulted, RemoteStart rejected or unanswered, no StartTransaction in time
(and the late start that follows: held again if the balance covers it, else answered Expired,
billed either way), balance too low, driver blocked, a connector that does not exist."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from ocpp.v16 import call_result

from appliance.web.driver import start as pages_driver_start
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

PHONE = "+91 90000 00010"


async def _ready(api: Api, server: TestServer, cpid: str, balance: int = 20_000
                 ) -> dict[str, Any]:
    await site_with_charger(api, cpid)
    return await driver_with_pin(server, api, PHONE, balance=balance)


def _answer_remote_start(cp: Any, status: str) -> None:
    async def answer(**kw: Any) -> call_result.RemoteStartTransaction:
        cp.received.append(("RemoteStartTransaction", kw))
        return call_result.RemoteStartTransaction(status=status)

    cp.route_map["RemoteStartTransaction"]["_on_action"] = answer


async def test_charger_offline(server: TestServer, api: Api, charger: Any) -> None:
    await _ready(api, server, "OFF-1")
    async with charger("OFF-1", "secret-pass-1") as cp:
        await cp.boot()
        await cp.status(1, "Available")
    async with phone(server) as p:
        await p.login(PHONE)
        status, html, _ = await p.start("OFF-1", 1)
    assert status == 409 and "The charger is offline" in html
    assert await holds(server) == []
    await ledger_true(server)


@pytest.mark.parametrize("state,error,text", [
    ("Charging", "NoError", "not free (Charging)"),
    ("Finishing", "NoError", "not free (Finishing)"),
    ("Faulted", "GroundFailure", "reports a fault"),
])
async def test_connector_not_free(server: TestServer, api: Api, charger: Any, state: str,
                                  error: str, text: str) -> None:
    await _ready(api, server, "BUSY-1")
    async with charger("BUSY-1", "secret-pass-1") as cp, phone(server) as p:
        await cp.boot()
        await cp.status(1, state, error)
        await p.login(PHONE)
        status, html, _ = await p.start("BUSY-1", 1)
    assert status == 409 and text in html
    assert await holds(server) == [] and await starts(server) == []
    await ledger_true(server)


async def test_remote_start_rejected(server: TestServer, api: Api, charger: Any) -> None:
    await _ready(api, server, "REJ-1")
    async with charger("REJ-1", "secret-pass-1") as cp, phone(server) as p:
        await cp.boot()
        await cp.status(1, "Available")
        _answer_remote_start(cp, "Rejected")
        await p.login(PHONE)
        _, html, _ = await p.start("REJ-1", 1)
    assert "The charger refused to start" in html
    assert await holds(server) == [("released", 20_000)]
    assert await ledger_rows(server) == [("topup", 20_000), ("hold", 20_000),
                                         ("release", -20_000)]
    await ledger_true(server)


async def test_remote_start_unanswered(server: TestServer, api: Api, charger: Any) -> None:
    await _ready(api, server, "ERR-1")
    async with charger("ERR-1", "secret-pass-1") as cp, phone(server) as p:
        await cp.boot()
        await cp.status(1, "Available")
        await p.login(PHONE)
        cp.fail_with = RuntimeError("firmware bug")  # the charger answers a CALLERROR
        _, html, _ = await p.start("ERR-1", 1)
    assert "The charger did not answer" in html
    assert [h[0] for h in await holds(server)] == ["released"]
    await ledger_true(server)


async def test_no_start_in_time_then_late_starts(server: TestServer, api: Api, charger: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages_driver_start, "START_MARGIN_S", 0.3)
    driver = await _ready(api, server, "LATE-1")
    async with charger("LATE-1", "secret-pass-1") as cp, phone(server) as p:
        cp.configuration["ConnectionTimeOut"] = "0"  # the charger's own wait for the cable
        await cp.boot()
        await cp.status(1, "Available")
        await cp.status(2, "Available")
        await p.login(PHONE)
        _, html, live = await p.start("LATE-1", 1, limit_kind="amount", limit="80")
        assert "Plug in your car" in html
        first_tag = cp.received[-1][1]["id_tag"]
        await asyncio.sleep(0.4)
        _, html, _ = await p.get(live)
        assert "did not start in time" in html
        assert await holds(server) == [("released", 8_000)]
        # A late start while the balance covers the hold again: held again, Accepted.
        late = await cp.start_tx(1, first_tag, meter_start=0)
        assert late.id_tag_info["status"] == "Accepted"
        assert await holds(server) == [("released", 8_000), ("captured", 8_000)]
        # A second start takes the whole balance; it too times out, and its late start finds
        # the balance short (the first session holds 80.00): answered Expired, billed anyway.
        _, _, second = await p.start("LATE-1", 2)
        second_tag = cp.received[-1][1]["id_tag"]
        await asyncio.sleep(0.4)
        await p.get(second)
        assert (await holds(server))[-1] == ("released", 12_000)
        await p.start("LATE-1", 2)  # holds 120.00 again: now nothing is available
        expired = await cp.start_tx(2, second_tag, meter_start=0)
        assert expired.id_tag_info["status"] == "Expired"
        await cp.stop(late.transaction_id, meter_stop=1000)
        await cp.stop(expired.transaction_id, meter_stop=500)
    # 1 kWh + 0.5 kWh at 20.00 = 30.00 charged; every hold released but the pending third's.
    money = await account(api, driver["id"])
    assert money["balance"] == 17_000
    assert [h[0] for h in await holds(server)] == ["released"] * 3 + ["open"]
    await ledger_true(server)


async def test_balance_too_low(server: TestServer, api: Api, charger: Any) -> None:
    await _ready(api, server, "LOW-1", balance=4_000)  # the tariff needs 50.00 to start
    async with charger("LOW-1", "secret-pass-1") as cp, phone(server) as p:
        await cp.boot()
        await cp.status(1, "Available")
        await p.login(PHONE)
        status, html, _ = await p.start("LOW-1", 1)
        assert status == 422 and "balance is too low" in html
        status, html, _ = await p.start("LOW-1", 1, limit_kind="amount", limit="10")
        assert status == 422  # a limit below the minimum to start is no way round it
    assert await holds(server) == []
    await ledger_true(server)


async def test_driver_blocked(server: TestServer, api: Api, charger: Any) -> None:
    driver = await _ready(api, server, "BLK-1")
    async with charger("BLK-1", "secret-pass-1") as cp, phone(server) as p:
        await cp.boot()
        await cp.status(1, "Available")
        await p.login(PHONE)
        await api.patch(f"/drivers/{driver['id']}", {"blocked": True})
        status, html, _ = await p.start("BLK-1", 1)
    assert status == 403 and "blocked" in html
    assert not [a for a, _ in cp.received if a == "RemoteStartTransaction"]
    assert await holds(server) == []
    await ledger_true(server)


async def test_no_such_connector(server: TestServer, api: Api, charger: Any) -> None:
    await _ready(api, server, "REAL-1")
    async with charger("REAL-1", "secret-pass-1") as cp, phone(server) as p:
        await cp.boot()
        await cp.status(1, "Available")
        await p.login(PHONE)
        for path in ("/c/REAL-1/3", "/c/REAL-1/0", "/c/FAKE-1/1"):
            status, html, _ = await p.get(path)
            assert status == 404, path
        status, _, _ = await p.post("/c/REAL-1/3/start", {"form_key": "k1"}, "/me")
        assert status == 404
    assert not [a for a, _ in cp.received if a == "RemoteStartTransaction"]
    assert await holds(server) == []


async def test_sweeper_gives_back_a_forgotten_hold(server: TestServer, api: Api, charger: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A driver who walks away: the sweeper (a cleanup context) releases the hold anyway."""
    from appliance import app as wiring

    monkeypatch.setattr(pages_driver_start, "START_MARGIN_S", 0.1)
    monkeypatch.setattr(wiring, "SWEEP_INTERVAL_S", 0.1)
    await _ready(api, server, "GONE-1")
    async with charger("GONE-1", "secret-pass-1") as cp, phone(server) as p:
        cp.configuration["ConnectionTimeOut"] = "0"
        await cp.boot()
        await cp.status(1, "Available")
        await p.login(PHONE)
        await p.start("GONE-1", 1)
    sweeper = wiring.sweeper_ctx(server.app)
    await sweeper.__anext__()
    try:
        async def released() -> bool:
            return await holds(server) == [("released", 20_000)]

        await eventually(released)
    finally:
        await sweeper.aclose()
    await ledger_true(server)
