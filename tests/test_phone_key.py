"""A phone number names one driver whatever way it is written ("+91 90000 12345", "090000-12345",
"9000012345"): creating or editing a driver with a number another driver has is refused, and
the phone login, sign-up and forgotten-PIN look-ups find the driver. They go by an indexed
column of the number's key (`driver.phone_key`, its last ten digits), kept in step wherever a
phone is written and filled for the rows a box held before the column existed: never by
reading every driver (a site of 10,000 drivers made creating one quadratic).

On a real database file (or PostgreSQL with APPLIANCE_TEST_BACKEND=postgresql), through the
sync functions the API, the staff pages and the drivers' pages call."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playhouse.migrations import Runner

from appliance.billing import accounts
from appliance.db import maintenance
from appliance.db.database import Database
from appliance.db.models import Driver
from appliance.db.schema import ALL_MODELS
from appliance.errors import Conflict
from appliance.people import drivers
from tests.pg import backend

BEFORE = "0024_band_run"  # the last migration before the phone key


@pytest.fixture
def database(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    cluster = request.getfixturevalue("pg_cluster") if backend() == "postgresql" else None
    url = cluster.create_database() if cluster else f"sqlite:///{tmp_path / 'phones.db'}"
    db = Database(url)
    db.db.bind(ALL_MODELS)
    db.db.connect(reuse_if_open=True)
    # A box from before the key: two drivers written then, one of them retired.
    Runner(db.db, directory=str(maintenance.MIGRATIONS_DIR)).up(target=BEFORE)
    db.db.execute_sql(
        "INSERT INTO driver (name, phone, email, note, language, group_tag, blocked, "
        "price_group, created_at, retired_at) VALUES "
        "('Old Asha', '+91 98765 43210', '', '', '', 'GRP-OLD1', FALSE, '', "
        "'2026-01-01 00:00:00', NULL), "
        "('Gone', '98765 00000', '', '', '', 'GRP-OLD2', FALSE, '', "
        "'2026-01-01 00:00:00', '2026-02-01 00:00:00')")
    maintenance.migrate(db, tmp_path / "backups")
    yield db
    db.db.close()
    if cluster:
        cluster.drop_database(url)


def _conflict_with(fields: dict[str, Any], driver_id: int | None = None) -> Any:
    with pytest.raises(Conflict) as err:
        if driver_id is None:
            accounts.create_driver(fields, "INR")
        else:
            accounts.update_driver(driver_id, fields)
    return err.value.details


def test_one_driver_per_number_however_written(database: Database) -> None:
    def run() -> None:
        old = Driver.get(Driver.name == "Old Asha")
        # The row from before the column got its key from the migration, the retired one too.
        assert old.phone_key == "9876543210"
        assert Driver.get(Driver.name == "Gone").phone_key == "9876500000"
        assert drivers.by_phone("098765-43210") == old.id
        assert drivers.phone_taken("+91 (98765) 43210")
        assert _conflict_with({"name": "Copy", "phone": "9876543210"})["driver_id"] == old.id
        # A retired driver's number is free again.
        again = accounts.create_driver({"name": "New", "phone": "+919876500000"}, "INR")
        assert Driver.get_by_id(again["id"]).phone_key == "9876500000"
        assert drivers.by_phone("98765 00000") == again["id"]

        made = accounts.create_driver({"name": "Bala", "phone": "+91 90000 12345"}, "INR")
        assert Driver.get_by_id(made["id"]).phone_key == "9000012345"
        for written in ("9000012345", "090000-12345", "+91-9000012345", "0091 90000 12345"):
            assert _conflict_with({"name": "Twin", "phone": written})["driver_id"] == made["id"]
            assert drivers.by_phone(written) == made["id"]
        # Editing: another driver may not take it; the driver itself may rewrite it.
        assert _conflict_with({"phone": "90000 12345"}, again["id"])["driver_id"] == made["id"]
        accounts.update_driver(made["id"], {"phone": "9000012345"})
        assert drivers.by_phone("+91 90000 12345") == made["id"]
        # A new number moves the key; the old one is free and finds nobody.
        accounts.update_driver(made["id"], {"phone": "+91 90000 54321"})
        assert Driver.get_by_id(made["id"]).phone_key == "9000054321"
        assert drivers.by_phone("9000012345") is None
        assert not drivers.phone_taken("9000012345")
        assert drivers.by_phone("9000054321") == made["id"]
        # A short number (no country code possible) compares whole.
        short = accounts.create_driver({"name": "Desk", "phone": "12-345"}, "INR")
        assert drivers.by_phone("12345") == short["id"]
        assert drivers.by_phone("512345") is None
        # Clearing a phone clears its key.
        accounts.update_driver(short["id"], {"phone": ""})
        assert Driver.get_by_id(short["id"]).phone_key == ""
        assert drivers.by_phone("12345") is None
        assert not drivers.phone_taken("")

    database.run_sync(run)


def test_the_phone_login_finds_the_one_driver(database: Database) -> None:
    def run() -> None:
        made = accounts.create_driver({"name": "Chitra", "phone": "+91 90000 77777"}, "INR")
        assert drivers.candidates("9000077777") == []  # no PIN yet
        drivers.set_pin(made["id"], "hash", "test")
        [(found, _)] = drivers.candidates("090000 77777")
        assert found.id == made["id"]
        # Two drivers sharing a key (stored before numbers were kept unique) log nobody in.
        twin = accounts.create_driver({"name": "Twin", "phone": "+91 90000 88888"}, "INR")
        drivers.set_pin(twin["id"], "hash", "test")
        Driver.update(phone="9000077777", phone_key="9000077777").where(
            Driver.id == twin["id"]).execute()
        assert drivers.candidates("+91 90000 77777") == []
        assert drivers.by_phone("9000077777") is None
        assert drivers.phone_taken("9000077777")

    database.run_sync(run)
