"""Upgrading a box: a database made by the previous release (tests/fixtures/release-0005.db,
schema 0005, three drivers with balances) is backed up, migrated, and keeps every balance; a
migration that fails leaves the old database untouched and says so."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from appliance.app import check_all, open_database
from appliance.charging.admin import create_station, recent_frames
from appliance.config import load_settings
from appliance.db import maintenance
from appliance.db.models import Account, MeterReading, Station
from appliance.errors import DatabaseError

FIXTURE = Path(__file__).with_name("fixtures") / "release-0005.db"
BALANCES = {1: 50_000, 2: 12_345, 3: 700}

pytestmark = pytest.mark.sqlite_only("the fixture is a SQLite file from a box")


def _box(tmp_path: Path) -> Any:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(FIXTURE, data / "appliance.db")
    return load_settings(environ={}, overrides={"data_dir": str(data)})


def _balances(database: Any) -> dict[int, int]:
    return database.run_sync(lambda: {a.driver_id: a.balance for a in Account.select()})


def test_upgrade_backs_up_migrates_and_keeps_every_balance(tmp_path: Path) -> None:
    settings = _box(tmp_path)
    database = open_database(settings)
    applied, pending = maintenance.schema_status(database)
    assert not pending and applied[-1] == sorted(
        p.stem for p in maintenance.MIGRATIONS_DIR.glob("0*.py"))[-1]
    assert _balances(database) == BALANCES
    report = check_all(database)
    assert report.ok, report.lines
    database.db.close()
    [backup] = (settings.data_path / "backups").glob("pre-migrate-*.db")
    assert backup.stat().st_size > 0


def test_a_failed_migration_leaves_the_old_database(tmp_path: Path, monkeypatch: Any) -> None:
    settings = _box(tmp_path)
    broken = tmp_path / "migrations"
    shutil.copytree(maintenance.MIGRATIONS_DIR, broken,
                    ignore=shutil.ignore_patterns("__pycache__", "0006_*"))
    (broken / "0006_broken.py").write_text(
        "from peewee import *\n\n\ndef up(migrator, db):\n"
        "    db.execute_sql('ALTER TABLE account ADD COLUMN half_done INTEGER')\n"
        "    raise RuntimeError('disk full')\n")
    monkeypatch.setattr(maintenance, "MIGRATIONS_DIR", broken)
    with pytest.raises(DatabaseError, match="migration failed, the database is unchanged"):
        open_database(settings)
    monkeypatch.undo()
    database = open_database(settings)  # the real migrations still apply cleanly afterwards
    assert _balances(database) == BALANCES
    columns = [c.name for c in database.db.get_columns("account")]
    assert "half_done" not in columns
    database.db.close()


def test_frames_and_meter_samples_of_a_0006_box_are_converted(tmp_path: Path,
                                                                monkeypatch: Any) -> None:
    """0007 turns per-frame rows into one-frame chunks (the station page still shows them, newest
    first); 0008 groups per-value meter samples into one reading per message and moment, read by
    the phase rule, with the values as sent."""
    settings = _box(tmp_path)
    before = tmp_path / "migrations"
    shutil.copytree(maintenance.MIGRATIONS_DIR, before,
                    ignore=shutil.ignore_patterns("__pycache__", "0007_*", "0008_*", "0009_*"))
    monkeypatch.setattr(maintenance, "MIGRATIONS_DIR", before)
    database = open_database(settings)

    def old_rows() -> None:
        create_station("OLD-1", {})
        station = Station.get(Station.cpid == "OLD-1").id
        sql = database.db.execute_sql
        for i, (direction, frame) in enumerate(
                [("in", '[2,"1","Heartbeat",{}]'), ("out", '[3,"1",{"currentTime":"x"}]')]):
            sql("INSERT INTO frame_log (station_id, direction, frame, at) VALUES (?, ?, ?, ?)",
                (station, direction, frame, f"2026-11-01 10:00:0{i}.250000"))
        t1, t2, got = "2026-11-01 10:00:00", "2026-11-01 10:01:00", "2026-11-01 10:01:02"
        for ts, measurand, phase, unit, raw, value in (
                (t1, "Energy.Active.Import.Register", "L1", "Wh", "100", 100.0),
                (t1, "Energy.Active.Import.Register", "L2", "Wh", "200", 200.0),
                (t1, "Energy.Active.Import.Register", "L3", "Wh", "300", 300.0),
                (t1, "Power.Active.Import", "", "kW", "7.2", 7200.0),
                (t1, "SoC", "", "Percent", "55", 55.0),
                (t2, "Energy.Active.Import.Register", "", "kWh", "0.7", 700.0)):
            sql("INSERT INTO meter_sample (station_id, connector_id, session_id, timestamp, "
                "received_at, measurand, phase, location, context, unit, raw_value, value, "
                "signed) VALUES (?, 1, NULL, ?, ?, ?, ?, '', 'Sample.Periodic', ?, ?, ?, 0)",
                (station, ts, got, measurand, phase, unit, raw, value))

    database.run_sync(old_rows)
    database.db.close()
    monkeypatch.undo()
    database = open_database(settings)
    frames = database.run_sync(recent_frames, "OLD-1", 10)
    assert [(f["direction"], f["frame"][:10], f["at"].isoformat()) for f in frames] == [
        ("out", '[3,"1",{"c', "2026-11-01T10:00:01.250000"),
        ("in", '[2,"1","He', "2026-11-01T10:00:00.250000")]
    readings = database.run_sync(lambda: [
        (r.timestamp.isoformat(), r.energy_wh, r.power_w, r.context, json.loads(r.sampled))
        for r in MeterReading.select().order_by(MeterReading.id)])
    assert [r[:4] for r in readings] == [
        ("2026-11-01T10:00:00", 600.0, 7200.0, "Sample.Periodic"),
        ("2026-11-01T10:01:00", 700.0, None, "Sample.Periodic")]
    assert readings[0][4][3] == {"value": "7.2", "context": "Sample.Periodic",
                                 "measurand": "Power.Active.Import", "unit": "kW"}
    assert len(readings[0][4]) == 5 and readings[1][4][0]["value"] == "0.7"
    assert "meter_sample" not in database.db.get_tables()
    database.db.close()
