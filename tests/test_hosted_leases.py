"""Charger leases claimed for a batch of connections (`leases.claim_many`, as the hub's report
writer hands a boot storm's claims over together) do what claiming them one by one does: the
same answers (the live process a charger was taken from, else None) and the same rows, a
station claimed twice in the batch included. PostgreSQL only: leases are a hosted
installation's."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from appliance.app import open_database
from appliance.charging.admin import create_station
from appliance.cluster import leases
from appliance.db.models import Station
from appliance.db.models_cluster import ChargerLease
from tests.pg import backend

pytestmark = pytest.mark.skipif(backend() != "postgresql", reason="leases need PostgreSQL")

NOW = datetime(2026, 12, 6, 9, 0, 0)
ME, OTHER, DEAD = "me:1", "other:2", "dead:3"


def _side(prefix: str) -> list[int]:
    """Six stations: held by a live process, by a dead one, by this one, by nobody (two),
    and one held live that connects twice in the batch."""
    ids = []
    for i in range(6):
        create_station(f"{prefix}-{i}", {})
        ids.append(Station.get(Station.cpid == f"{prefix}-{i}").id)
    ChargerLease.insert_many([
        {"station": ids[0], "process": OTHER, "expires_at": NOW + timedelta(seconds=20)},
        {"station": ids[1], "process": DEAD, "expires_at": NOW - timedelta(seconds=5)},
        {"station": ids[2], "process": ME, "expires_at": NOW + timedelta(seconds=3)},
        {"station": ids[5], "process": OTHER, "expires_at": NOW + timedelta(seconds=20)},
    ]).execute()
    return ids


def _claims(ids: list[int]) -> list[leases.Claim]:
    return [(ids[0], ME, 30.0, NOW, "1.6"), (ids[1], ME, 30.0, NOW, "2.0.1"),
            (ids[5], ME, 30.0, NOW, "1.6"), (ids[2], ME, 30.0, NOW, "1.6"),
            (ids[3], ME, 30.0, NOW, "2.0.1"), (ids[5], ME, 30.0, NOW + timedelta(seconds=1),
                                               "2.0.1"), (ids[4], ME, 30.0, NOW, "1.6")]


def _rows(ids: list[int]) -> list[Any]:
    out = []
    for station_id in ids:
        lease = ChargerLease.get_or_none(ChargerLease.station == station_id)
        station = Station.get_by_id(station_id)
        out.append((lease and (lease.process, lease.expires_at, lease.taken_at),
                    station.online, station.ocpp_version, station.last_seen_at))
    return out


def test_claims_of_a_batch_do_what_claims_one_by_one_do(make_settings: Any) -> None:
    database = open_database(make_settings())

    def run() -> tuple[Any, Any, Any, Any]:
        one, many = _side("ONE"), _side("MANY")
        one_said = [leases.claim(*claim) for claim in _claims(one)]
        many_said = leases.claim_many(_claims(many))
        return one_said, many_said, _rows(one), _rows(many)

    one_said, many_said, one_rows, many_rows = database.run_sync(run)
    database.db.close()
    assert one_said == [OTHER, None, OTHER, None, None, None, None]
    assert many_said == one_said
    assert many_rows == one_rows
    assert all(row[0][0] == ME and row[1] for row in many_rows)
    assert many_rows[5][2] == "2.0.1"  # the later claim of a station claimed twice
