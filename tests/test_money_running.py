"""A commercial session that runs out of balance is stopped by the server and settled whole
(debt shown); two top-ups and a settlement racing on one account lose nothing."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.billing.check import _check
from tests.conftest import Api, add_station, eventually
from tests.money_fixtures import account, driver_with_card, site_tariff


async def test_running_out_stops_and_settles_with_debt(api: Api, charger: Any,
                                                       server: TestServer) -> None:
    await add_station(api, "RUN-1")
    await site_tariff(api, energy_per_kwh="40")  # 4000 paise per kWh
    driver = await driver_with_card(api, "LOW001", balance=10_000, overdraft=5_000)
    async with charger("RUN-1", "secret-pass-1") as cp:
        await cp.boot()
        started = await cp.start_tx(1, "LOW001", meter_start=100)
        tx = started.transaction_id
        assert started.id_tag_info["status"] == "Accepted"
        await cp.meter(1, tx, 1000, power_w=22_000)
        await cp.meter(1, tx, 3000, power_w=22_000)  # 11600 + one minute at 22 kW: 13066
        assert not [a for a, _ in cp.received if a == "RemoteStopTransaction"]
        await cp.meter(1, tx, 3500, power_w=22_000)  # 13600 + 1466 >= 10000 + 5000

        async def stop_sent() -> bool:
            return ("RemoteStopTransaction", {"transaction_id": tx}) in cp.received

        await eventually(stop_sent)
        await cp.stop(tx, meter_stop=3900, reason="Remote")
        # The driver is now in debt: a new start is refused, with the reason kept.
        assert (await cp.authorize("LOW001"))["status"] == "Blocked"
    session = (await api.get("/sessions?station_id=RUN-1"))["items"][0]
    assert session["stop_requested"] == "balance_exhausted"
    assert session["fee"]["amount"] == 15_200  # the whole fee, above balance + overdraft
    money = await account(api, driver["id"])
    assert money["balance"] == -5_200 and money["debt"] == 200
    ledger = (await api.get(f"/drivers/{driver['id']}/ledger"))["items"]
    assert [(r["kind"], r["amount"]["amount"]) for r in ledger] == [
        ("topup", 10_000), ("charge", -15_200)]
    cards = (await api.get(f"/drivers/{driver['id']}/cards"))["items"]
    assert cards[0]["last_refusal"].startswith("debt")
    checks = await server.app[keys.DATABASE].read(_check)
    assert all(ok for ok, _ in checks), checks


async def test_topups_and_settlement_race(api: Api, charger: Any, server: TestServer) -> None:
    await add_station(api, "RACE-1")
    await site_tariff(api, energy_per_kwh="10")
    driver = await driver_with_card(api, "RACE01", balance=20_000)
    path = f"/drivers/{driver['id']}/topups"
    async with charger("RACE-1", "secret-pass-1") as cp:
        await cp.boot()
        for round_no in range(5):
            started = await cp.start_tx(1, "RACE01", meter_start=round_no * 10_000)
            await cp.meter(1, started.transaction_id, round_no * 10_000 + 1000)
            await asyncio.gather(
                api.request("POST", path, {"amount": 1_000, "method": "cash"},
                            {"Idempotency-Key": f"a{round_no}"}),
                api.request("POST", path, {"amount": 2_000, "method": "other"},
                            {"Idempotency-Key": f"b{round_no}"}),
                cp.stop(started.transaction_id, meter_stop=round_no * 10_000 + 2000),
                api.request("POST", path, {"amount": 1_000, "method": "cash"},
                            {"Idempotency-Key": f"a{round_no}"}),  # a double click
            )
    # Each round: +1000 +2000 top-ups, -2 kWh x 10.00 = -2000.
    assert (await account(api, driver["id"]))["balance"] == 20_000 + 5 * (3_000 - 2_000)
    ledger = (await api.get(f"/drivers/{driver['id']}/ledger"))["items"]
    assert sorted(r["kind"] for r in ledger).count("charge") == 5 and len(ledger) == 16
    checks = await server.app[keys.DATABASE].read(_check)
    assert all(ok for ok, _ in checks), checks


async def test_stop_is_sent_again_when_the_charger_reconnects(api: Api, charger: Any,
                                                              monkeypatch: Any) -> None:
    from appliance.ocpp import endpoint

    monkeypatch.setattr(endpoint, "RECONNECT_TRIGGER_DELAY_S", 0.1)
    await add_station(api, "RUN-2")
    await site_tariff(api, energy_per_kwh="40")
    await driver_with_card(api, "LOW002", balance=6_000)
    async with charger("RUN-2", "secret-pass-1") as cp:
        await cp.boot()
        started = await cp.start_tx(1, "LOW002", meter_start=100)
        assert started.id_tag_info["status"] == "Accepted", started
        tx = started.transaction_id
        await cp.meter(1, tx, 1600, power_w=7_000)  # 6000 + a minute at 7 kW >= 6000: over

        async def stop_sent() -> bool:
            return ("RemoteStopTransaction", {"transaction_id": tx}) in cp.received

        await eventually(stop_sent)
    # The charger lost the command and the connection; it comes back still charging.
    async with charger("RUN-2", "secret-pass-1") as cp:
        await eventually(stop_sent)


async def test_running_out_counts_the_accounts_other_session_and_a_lowered_balance(
        api: Api, charger: Any, server: TestServer) -> None:
    """The watchdog judges most samples from upper bounds of the costs (pricing only near the
    limit): the bound of the account's other open session counts, and a balance lowered at
    the desk between two samples counts from the next one."""
    await add_station(api, "RUN-2")
    await site_tariff(api, energy_per_kwh="40")  # 4 paise a Wh
    driver = await driver_with_card(api, "TWO001", balance=20_000, overdraft=0)
    await api.post(f"/drivers/{driver['id']}/cards", {"id_tag": "TWO002", "mode": "commercial"})

    def stops(cp: Any) -> list[Any]:
        return [p["transaction_id"] for a, p in cp.received if a == "RemoteStopTransaction"]

    async with charger("RUN-2", "secret-pass-1") as cp:
        await cp.boot()
        a = (await cp.start_tx(1, "TWO001", meter_start=0)).transaction_id
        b = (await cp.start_tx(2, "TWO002", meter_start=0)).transaction_id
        await cp.meter(1, a, 500, power_w=0)  # 2,000 + 0
        await cp.meter(2, b, 1000, power_w=0)  # 4,000 + 2,000
        await cp.meter(1, a, 1200, power_w=0)  # 4,800 + 4,000
        await cp.meter(2, b, 1600, power_w=0)  # 6,400 + 4,800 = 11,200 < 20,000
        await asyncio.sleep(0.3)
        assert stops(cp) == []
        status, _ = await api.request("POST", f"/drivers/{driver['id']}/adjustments",
                                      {"amount": -10_000, "reason": "test"})
        assert status == 201
        await cp.meter(1, a, 1300, power_w=0)  # 5,200 + 6,400 = 11,600 >= 10,000: stop A

        async def stop_sent() -> bool:
            return stops(cp) == [a]

        await eventually(stop_sent)
        await cp.meter(2, b, 1700, power_w=0)  # 6,800 + A's 5,200 >= 10,000: stop B

        async def both_sent() -> bool:
            return sorted(stops(cp)) == sorted([a, b])

        await eventually(both_sent)
    checks = await server.app[keys.DATABASE].read(_check)
    assert all(ok for ok, _ in checks), checks
