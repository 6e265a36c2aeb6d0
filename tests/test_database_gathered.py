"""`Database.read_gathered`: the look-ups asked in one turn of the event loop (a boot storm's
admissions, each reading its station) are read together, in one call of the set-based
look-up; each awaiter gets its own key's row, a key asked twice is read once, an unknown key
gives None, and a failed read fails every awaiter of it, not the next turn's."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from appliance.app import open_database
from appliance.charging import stations
from appliance.charging.admin import create_station
from appliance.db.models import Station


async def test_look_ups_of_one_turn_are_one_read(make_settings: Any) -> None:
    database = open_database(make_settings())
    database.start()
    try:
        def setup() -> dict[str, int]:
            for i in range(5):
                create_station(f"GATHER-{i}", {})
            return {s.cpid: s.id for s in Station.select()}

        ids = await database.run(setup)
        calls: list[list[str]] = []

        def many(cpids: list[str]) -> dict[str, stations.StationAuth]:
            calls.append(sorted(cpids))
            return stations.load_auth_many(cpids)

        asked = [*ids, "NOBODY-1", "GATHER-0", "gather-3"]
        found = await asyncio.gather(*(database.read_gathered(many, cpid) for cpid in asked))
        assert calls == [sorted(set(asked))]  # one read, each key once
        assert [a.id if a else None for a in found] == [
            *ids.values(), None, ids["GATHER-0"], ids["GATHER-3"]]
        assert found[-1] is not None and found[-1].cpid == "GATHER-3"  # as the station says

        def broken(cpids: list[str]) -> dict[str, Any]:
            raise RuntimeError(f"the read of {len(cpids)} failed")

        failed = await asyncio.gather(*(database.read_gathered(broken, c) for c in ids),
                                      return_exceptions=True)
        assert all(isinstance(e, RuntimeError) and str(e) == "the read of 5 failed"
                   for e in failed)
        again = await database.read_gathered(many, "GATHER-1")  # the next turn reads anew
        assert again is not None and again.id == ids["GATHER-1"]
        assert len(calls) == 2
    finally:
        database.stop()


@pytest.mark.parametrize("count", [1, 9, 130])
def test_load_auth_many_gives_what_load_auth_gives(make_settings: Any, count: int) -> None:
    database = open_database(make_settings())

    def run() -> None:
        for i in range(count):
            create_station(f"MANY-{i}", {})
        cpids = [f"MANY-{i}" for i in range(count)] + ["MANY-NONE"]
        found = stations.load_auth_many(cpids)
        assert set(found) == set(cpids[:-1])
        for cpid in cpids:
            assert found.get(cpid) == stations.load_auth(cpid)

    database.run_sync(run)
    database.db.close()


def test_held_many_gives_what_held_gives(make_settings: Any) -> None:
    """Managed and approved chargers with and without a list held, one not managed, one not
    approved, one unknown: `locallist.held_many` answers each as `locallist.held` does."""
    from appliance.billing import locallist
    from appliance.db.models_offline import LocalList

    database = open_database(make_settings())

    def run() -> None:
        for i in range(5):
            create_station(f"LIST-{i}", {})
        ids = {s.cpid: s.id for s in Station.select()}
        Station.update(managed=True, approved=True).where(
            Station.cpid.in_(["LIST-0", "LIST-1", "LIST-2"])).execute()
        Station.update(managed=True, approved=False).where(Station.cpid == "LIST-3").execute()
        Station.update(managed=False, approved=True).where(Station.cpid == "LIST-4").execute()
        LocalList.create(station=ids["LIST-1"], version=4,
                         entries='{"CARD1": ["card1", "Accepted", ""]}')
        cpids = [*ids, "list-2", "LIST-NONE"]
        found = locallist.held_many(cpids)
        assert set(found) == {"LIST-0", "LIST-1", "LIST-2", "list-2"}
        assert found["LIST-1"].version == 4 and found["LIST-0"].version == 0
        for cpid in cpids:
            assert found.get(cpid) == locallist.held(cpid)

    database.run_sync(run)
    database.db.close()
