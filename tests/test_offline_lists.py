"""Local authorization lists over real WebSockets (issue 23): a charger that keeps and checks
its list as a real one does lets a personal card charge while the box is stopped, and the
replay is billed once; a card blocked while a charger is away is refused there once it is back;
a list larger than the charger takes at once goes in parts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.billing import locallist, offline
from appliance.charging.control import ListEntry
from appliance.config import Settings
from appliance.db.models import ChargingSession, Station
from appliance.db.models_money import LedgerEntry
from appliance.db.site import store_value
from tests.charger import LocalListMemory, connect_charger
from tests.conftest import Api, add_station, eventually, make_token
from tests.money_fixtures import account, driver_with_card, site_tariff
from tests.staff_client import staff_client


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def _synced(memory: LocalListMemory, *tags: str, status: str = "Accepted") -> None:
    async def holds() -> bool:
        return all(memory.authorize_offline(t) == status for t in tags)

    await eventually(holds)


async def _list_row(server: TestServer, cpid: str) -> dict[str, Any] | None:
    def read() -> dict[str, Any] | None:
        station = Station.get(Station.key == cpid.upper())
        return locallist.status_of(station.id)

    return await server.app[keys.DATABASE].read(read)


@pytest.mark.allow_loop_stall  # it stops and starts the box, as tests/test_restart.py does
async def test_personal_card_charges_while_the_box_is_stopped_and_is_billed_once(
        start_app: Any, settings: Settings) -> None:
    server = await start_app(settings)
    memory = LocalListMemory()
    async with aiohttp.ClientSession() as http:
        api = Api(http, str(server.make_url("")).rstrip("/"), await make_token(server))
        await add_station(api, "LL-1", managed=True)
        await driver_with_card(api, "PERS-1", mode="personal")
        await driver_with_card(api, "COMM-1", balance=50_000, mode="commercial")
        async with connect_charger(server, "LL-1", "secret-pass-1", local_list=memory) as cp:
            await cp.boot()
            await _synced(memory, "PERS-1")

            async def configured() -> bool:
                return cp.configuration["LocalAuthListEnabled"] == "true" \
                    and cp.configuration["LocalAuthorizeOffline"] == "true"

            await eventually(configured)
            assert cp.configuration["AllowOfflineTxForUnknownId"] == "false"

        async def recorded() -> bool:
            # The sync records the outcome after the charger's answer, in writer jobs of its
            # own: under load (a CI run on PostgreSQL) not yet when the charger holds the list.
            row = await _list_row(server, "LL-1")
            return row is not None and bool(row["current"]) and row["version"] == memory.version

        await eventually(recorded)
    await server.close()

    # The box is stopped: the charger decides alone, from its list.
    assert memory.authorize_offline("PERS-1") == "Accepted"
    assert memory.authorize_offline("COMM-1") == "Invalid"  # commercial cards need the box
    assert memory.authorize_offline("NOBODY") == "Invalid"
    started = datetime.now(UTC) - timedelta(minutes=20)

    server = await start_app(settings)
    async with connect_charger(server, "LL-1", "secret-pass-1", local_list=memory) as cp:
        first = await cp.start_tx(1, "PERS-1", 1_000, timestamp=stamp(started))
        again = await cp.start_tx(1, "PERS-1", 1_000, timestamp=stamp(started))
        assert again.transaction_id == first.transaction_id
        end = stamp(started + timedelta(minutes=15))
        for _ in range(2):  # the charger's queue sends the stop twice
            await cp.stop(first.transaction_id, 8_000, timestamp=end)

    def facts() -> tuple[list[ChargingSession], int]:
        return list(ChargingSession.select()), LedgerEntry.select().where(
            LedgerEntry.kind == "charge").count()

    sessions, charges = await server.app[keys.DATABASE].read(facts)
    assert len(sessions) == 1 and charges == 0  # a personal card is free
    [session] = sessions
    assert session.mode == "personal" and session.energy_wh == 7_000
    assert offline.OFFLINE_FLAG in session.flags and session.state == "completed"
    report = await server.app[keys.DATABASE].read(offline.away_report,
                                                  started - timedelta(hours=1))
    assert [r["transaction_id"] for r in report] == [first.transaction_id]
    assert report[0]["needs_staff"] is False
    async with staff_client(server) as staff:  # the sessions page lists what happened
        status, html = await staff.get("/sessions?offline=1")
        assert status == 200 and f"/sessions/{session.id}" in html


async def test_commercial_card_started_offline_is_charged_at_its_stop_into_debt(
        server: TestServer, api: Api) -> None:
    await site_tariff(api, energy_per_kwh="20", min_to_start=0)
    await add_station(api, "LL-C", managed=True)
    driver = await driver_with_card(api, "COMM-2", balance=100, mode="commercial")
    # A manager allows commercial cards offline on this site.
    await server.app[keys.DATABASE].run(store_value, "offline_commercial", True, "test")
    memory = LocalListMemory()
    async with connect_charger(server, "LL-C", "secret-pass-1", local_list=memory) as cp:
        await cp.boot()
        await _synced(memory, "COMM-2")
    started = datetime.now(UTC) - timedelta(minutes=30)
    async with connect_charger(server, "LL-C", "secret-pass-1", local_list=memory) as cp:
        tx = await cp.start_tx(1, "COMM-2", 0, timestamp=stamp(started))
        await cp.stop(tx.transaction_id, 5_000, timestamp=stamp(started + timedelta(minutes=20)))
    money = await account(api, driver["id"])
    assert money["debt"] > 0  # charged in full at its stop, beyond the balance
    [row] = (await api.get("/offline-report"))["items"]
    assert row["mode"] == "commercial" and row["needs_staff"] and row["settled"]
    assert row["fee_minor"] == 10_000  # 5 kWh at 20 a kWh, beyond the balance of 1.00


async def test_a_replay_is_priced_by_the_tariff_it_started_under(
        server: TestServer, api: Api, monkeypatch: Any) -> None:
    monkeypatch.setattr(offline, "MARGIN", timedelta(0))
    tariff = await site_tariff(api, energy_per_kwh="20", min_to_start=0)
    await add_station(api, "LL-T")
    await driver_with_card(api, "COMM-3", balance=100_000, mode="commercial")
    started = datetime.now(UTC)  # the charger starts, cut off from the box ...
    await asyncio.sleep(0.01)
    await api.patch(f"/tariffs/{tariff['id']}", {"energy_per_kwh": "30"})  # ... a new price
    async with connect_charger(server, "LL-T", "secret-pass-1") as cp:
        tx = await cp.start_tx(1, "COMM-3", 0, timestamp=stamp(started))
        await cp.stop(tx.transaction_id, 1_000)

    def fee() -> tuple[int | None, str]:
        s = ChargingSession.get(ChargingSession.transaction_id == tx.transaction_id)
        return s.fee_minor, s.flags

    amount, flags = await server.app[keys.DATABASE].read(fee)
    assert amount == 2_000 and "tariff_as_started" in flags  # 1 kWh at the old 20


async def test_card_blocked_while_a_charger_is_away_is_refused_there_once_back(
        server: TestServer, api: Api) -> None:
    await add_station(api, "LL-2", managed=True)
    await add_station(api, "LL-3", managed=True)
    await driver_with_card(api, "PERS-2", mode="personal")
    away, staying = LocalListMemory(), LocalListMemory()
    async with connect_charger(server, "LL-2", "secret-pass-1", local_list=away) as cp:
        await cp.boot()
        await _synced(away, "PERS-2")
    async with connect_charger(server, "LL-3", "secret-pass-1", local_list=staying) as other:
        await other.boot()
        await _synced(staying, "PERS-2")
        await api.patch("/cards/PERS-2", {"status": "Blocked"})
        await _synced(staying, "PERS-2", status="Blocked")  # a connected charger: at once
        assert away.authorize_offline("PERS-2") == "Accepted"  # still away: it cannot know
    async with connect_charger(server, "LL-2", "secret-pass-1", local_list=away) as cp:
        await _synced(away, "PERS-2", status="Blocked")  # on its next connection
        assert (await cp.authorize("PERS-2"))["status"] == "Blocked"
    assert away.parts[-1][1] == "Differential"  # only the change went


async def test_list_larger_than_the_charger_takes_at_once_goes_in_parts(
        server: TestServer, api: Api) -> None:
    await add_station(api, "LL-4", managed=True)
    for n in range(11):
        await api.post("/cards", {"id_tag": f"CARD-{n:02d}"})
    memory = LocalListMemory(max_length=100, send_max=4)
    async with connect_charger(server, "LL-4", "secret-pass-1", local_list=memory) as cp:
        await cp.boot()
        await _synced(memory, *[f"CARD-{n:02d}" for n in range(11)])
        assert [(kind, size) for _, kind, size in memory.parts] == [
            ("Full", 4), ("Differential", 4), ("Differential", 3)]
        assert [v for v, _, _ in memory.parts] == [1, 2, 3]
        row = await _list_row(server, "LL-4")
        assert row is not None and row["current"] and row["version"] == 3
        async with staff_client(server) as staff:  # the charger page says so
            status, html = await staff.get("/stations/LL-4")
            assert status == 200 and "version 3" in html and ">current<" in html

        # A charger whose list is not the box's version gets the whole list again.
        memory.version = 77
        await api.post("/cards", {"id_tag": "CARD-NEW"})
        await _synced(memory, "CARD-NEW")
        assert memory.parts[-3][:2] == (78, "Full") and len(memory.entries) == 12


async def test_more_cards_than_the_charger_keeps_is_shown_as_not_current(
        server: TestServer, api: Api) -> None:
    await add_station(api, "LL-5", managed=True)
    for n in range(6):
        await api.post("/cards", {"id_tag": f"MANY-{n}"})
    memory = LocalListMemory(max_length=4, send_max=10)
    async with connect_charger(server, "LL-5", "secret-pass-1", local_list=memory) as cp:
        await cp.boot()

        async def noted() -> bool:
            row = await _list_row(server, "LL-5")
            return row is not None and row["version"] > 0 and bool(row["problem"])

        await eventually(noted)
    row = await _list_row(server, "LL-5")
    assert row is not None and not row["current"] and row["held"] == 4
    assert len(memory.entries) == 4


def test_plan_removes_what_is_gone_and_counts_versions_up() -> None:
    held = locallist.Held(1, 5, {"A": ("a", "Accepted", ""), "B": ("b", "Accepted", "")})
    want = {"A": ("a", "Blocked", ""), "C": ("c", "Accepted", "")}
    parts, complete = locallist.plan(held, 5, want, 10, None)
    assert complete and [(p.version, p.full) for p in parts] == [(6, False)]
    assert parts[0].changes == {"A": ("a", "Blocked", ""), "B": None, "C": ("c", "Accepted", "")}
    assert locallist.entries_of(parts[0], held.entries)[1] == ListEntry("b", None)
    assert locallist.plan(held, 5, dict(held.entries), 10, None) == ([], True)
