"""Load management end to end over real WebSockets (issue 23): five simulated chargers share a
32 A supply; a sixth session waits below the minimum; a stop or a car that takes less gives the
others more; a charger that refuses profiles is flagged and counted at its full power."""

from __future__ import annotations

import contextlib
from typing import Any

from aiohttp.test_utils import TestServer
from ocpp.v16 import call

from appliance import keys
from appliance.db.models_offline import PowerMember
from tests.charger import SimCharger, connect_charger, now
from tests.conftest import Api, add_station, eventually
from tests.staff_client import staff_client


async def _site(api: Api, limit_a: int = 32, **fields: Any) -> None:
    await api.request("PUT", "/power/groups/site", {"whole_site": True, "limit_a": limit_a,
                                                    "min_a": 6, "default_a": 10, **fields})


async def _limits(cps: dict[str, SimCharger], wanted: dict[tuple[str, int], float]) -> None:
    async def holds() -> bool:
        return all(cps[cpid].limit(connector) == amps
                   for (cpid, connector), amps in wanted.items())

    try:
        await eventually(holds)
    except AssertionError:
        seen = {k: cps[k[0]].limit(k[1]) for k in wanted}
        raise AssertionError(f"limits {seen}, wanted {wanted}") from None


async def _current(cp: SimCharger, connector: int, tx: int, amps: float) -> None:
    sampled = [{"value": "1000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]
    sampled += [{"value": str(amps), "measurand": "Current.Import", "phase": p, "unit": "A"}
                for p in ("L1", "L2", "L3")]
    await cp.call(call.MeterValues(connector_id=connector, transaction_id=tx,
                                   meter_value=[{"timestamp": now(), "sampled_value": sampled}]))


async def test_five_chargers_share_32_a(server: TestServer, api: Api) -> None:
    names = [f"PW-{n}" for n in range(5)]
    for name in names:
        await add_station(api, name)
    await _site(api)
    async with contextlib.AsyncExitStack() as stack:
        cps = {n: await stack.enter_async_context(connect_charger(server, n, "secret-pass-1"))
               for n in names}
        for cp in cps.values():
            await cp.boot()
        # The safe default: all five at their default stay under the supply.

        async def defaults() -> bool:
            return all(cp.limit(0, "TxDefaultProfile") == 6.4 for cp in cps.values())

        await eventually(defaults)
        txs = {}
        for n, name in enumerate(names):
            txs[name] = (await cps[name].start_tx(1, f"TAG{n}", 0)).transaction_id
            await cps[name].status(1, "Charging")
        await _limits(cps, {(n, 1): 6.4 for n in names})
        # A sixth session: no room for its minimum, so it waits at 0 A.
        sixth = (await cps["PW-0"].start_tx(2, "TAG9", 0)).transaction_id
        await _limits(cps, {**{(n, 1): 6.4 for n in names}, ("PW-0", 2): 0.0})
        # A stop frees room: the waiting session is admitted.
        await cps["PW-4"].stop(txs["PW-4"], 100)
        await _limits(cps, {**{(n, 1): 6.4 for n in names[:4]}, ("PW-0", 2): 6.4})
        # A car that takes 2 A leaves the rest to the others (it keeps the minimum).
        await _current(cps["PW-1"], 1, txs["PW-1"], 2.0)
        await _limits(cps, {("PW-1", 1): 6.0, ("PW-0", 1): 6.5, ("PW-2", 1): 6.5,
                            ("PW-3", 1): 6.5, ("PW-0", 2): 6.5})
        total = sum(cps[c].limit(k) or 0 for c, k in
                    [("PW-0", 1), ("PW-1", 1), ("PW-2", 1), ("PW-3", 1), ("PW-0", 2)])
        assert total <= 32.0
        # What the page reads is what the chargers hold.
        [group] = (await api.get("/power/groups"))["items"]
        assert group["now"]["allowed"] == {"PW-0/1": 6.5, "PW-1/1": 6.0, "PW-2/1": 6.5,
                                           "PW-3/1": 6.5, "PW-0/2": 6.5}
        assert group["now"]["used_a"] <= 32.0
        async with staff_client(server) as staff:
            status, html = await staff.get("/")
            assert status == 200
            assert 'id="site-power"' in html and "32.0" in html  # the limit beside what is used
            assert '<td class="num allowed">6.0</td>' in html  # each session's allowed current
            status, html = await staff.get("/stations/PW-1")
            assert status == 200 and "may draw 6.0 A" in html
        await cps["PW-0"].stop(sixth, 100)


async def test_a_charger_refusing_profiles_counts_at_full_power(server: TestServer,
                                                                api: Api) -> None:
    for name in ("RF-1", "RF-2", "RF-3"):
        await add_station(api, name)
    await _site(api, limit_a=40)
    await api.request("PUT", "/stations/RF-3/power", {"group": None, "max_a": 16})
    async with contextlib.AsyncExitStack() as stack:
        cps = {n: await stack.enter_async_context(connect_charger(server, n, "secret-pass-1"))
               for n in ("RF-1", "RF-2", "RF-3")}
        cps["RF-3"].refuse_profiles = True
        for n, cp in enumerate(cps.values()):
            await cp.boot()
            await cp.start_tx(1, f"RTAG{n}", 0)
        # RF-3 takes its 16 A; the others share the 24 A left.
        await _limits(cps, {("RF-1", 1): 12.0, ("RF-2", 1): 12.0})

    def refused() -> list[int]:
        return [m.station_id for m in PowerMember.select().where(PowerMember.refused)]

    assert len(await server.app[keys.DATABASE].read(refused)) == 1


async def test_a_new_limit_changes_every_chargers_safe_default(server: TestServer,
                                                               api: Api) -> None:
    for name in ("DF-1", "DF-2"):
        await add_station(api, name)
    await _site(api, limit_a=32)
    async with contextlib.AsyncExitStack() as stack:
        cps = [await stack.enter_async_context(connect_charger(server, n, "secret-pass-1"))
               for n in ("DF-1", "DF-2")]
        for cp in cps:
            await cp.boot()

        def defaults(amps: float) -> Any:
            async def check() -> bool:
                return all(cp.limit(0, "TxDefaultProfile") == amps for cp in cps)
            return check

        await eventually(defaults(10.0))  # the group's default_a: 2 x 10 A fit in 32 A
        await _site(api, limit_a=12)
        await eventually(defaults(6.0))  # never more than the limit shared by its chargers
        # The default is a relative TxDefaultProfile for every connector, below sessions'.
        profile = cps[0].profiles[(0, "TxDefaultProfile")]
        assert profile["stack_level"] == 0 and profile["charging_profile_kind"] == "Relative"


async def test_a_manager_sets_the_limit_on_the_power_page(server: TestServer, api: Api) -> None:
    await add_station(api, "PP-1")
    async with staff_client(server) as staff:
        status, html = await staff.post("/settings/power", {
            "action": "group", "name": "site", "whole_site": "on", "limit_kw": "22",
            "phases": "3", "min_a": "6", "default_a": "8"})
        assert status == 200 and "31.8" in html  # 22 kW at 230 V on three phases
        status, html = await staff.post("/settings/power", {
            "action": "group", "name": "feeder-b", "limit_a": "16", "phases": "3",
            "min_a": "6", "default_a": "6"})
        assert status == 200
        status, _ = await staff.post("/settings/power", {
            "action": "member", "station": "PP-1", "group": "feeder-b", "max_a": "16"})
        assert status == 200
        status, html = await staff.post("/settings/power", {"action": "group", "name": "x"})
        assert status == 400  # no limit
        status, html = await staff.get("/stations/PP-1")
        assert "feeder-b" in html and "at most 16 A per phase" in html
