"""`appliance migrate-to-postgresql`: a generated site (drivers, cards, a month of sessions with
their ledger rows) moves from a box's SQLite file into an empty PostgreSQL database, the copy
verifies itself, `appliance check` passes on it, and the appliance goes on there (new ids after
the copied ones, transaction ids far past the old ones). Also `appliance backup` on PostgreSQL."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from appliance.app import open_database
from appliance.billing import accounts, tariffs
from appliance.billing import authorize as auth
from appliance.billing.check import check_ledger
from appliance.cli import main
from appliance.config import Settings
from appliance.db import copy as dbcopy
from appliance.db.database import Database
from appliance.db.models import Account, ChargingSession, Driver, Station, utcnow
from appliance.db.models_money import LedgerEntry
from appliance.db.restore import TX_ID_MARGIN
from appliance.db.schema import ALL_MODELS


def _session(station_id: int, tag: str, connector: int, start: datetime, rng: random.Random
             ) -> None:
    """One session as a charger reports it: start, a few samples, stop (settled at once)."""
    stamp = start.isoformat() + "Z"
    payload = {"connectorId": connector, "idTag": tag, "meterStart": 1000, "timestamp": stamp}
    tx, _ = auth.start_transaction(station_id, payload, json.dumps(payload), start, 300, [])
    energy = 0
    for minute in (10, 20, 30):
        energy += rng.randint(500, 3000)
        at = start + timedelta(minutes=minute)
        auth.meter_values(station_id, {"connectorId": connector, "transactionId": tx,
                                       "meterValue": [{"timestamp": at.isoformat() + "Z",
                                                       "sampledValue": [
                                                           {"value": str(1000 + energy)},
                                                           {"value": "7000", "unit": "W",
                                                            "measurand": "Power.Active.Import"}]}]},
                          at)
    end = start + timedelta(minutes=35)
    stop = {"transactionId": tx, "meterStop": 1000 + energy, "reason": "Local",
            "timestamp": end.isoformat() + "Z"}
    auth.stop_transaction(station_id, stop, json.dumps(stop), end, 300, 400_000)


def generate_site(drivers: int = 12, days: int = 30, per_day: int = 8, seed: int = 7) -> int:
    """A small site's month: stations, a tariff, drivers with commercial and personal cards,
    top-ups, sessions every day, a refund and an adjustment. Returns the sessions made."""
    rng = random.Random(seed)
    stations = [Station.create(cpid=f"GEN-{i}", key=f"GEN-{i}", approved=True,
                               registration="Accepted") for i in range(3)]
    tariff = tariffs.create_tariff({"name": "standard", "energy_per_kwh": "18.5",
                                    "time_per_hour": "2", "session_fee": "5",
                                    "session_fee_min_wh": 50, "min_to_start": 2000,
                                    "tax_rate": "0.18"}, "INR")
    for st in stations:
        tariffs.assign(tariff["id"], st.cpid, None)
    tags = []
    for n in range(drivers):
        d = accounts.create_driver({"name": f"Driver {n}", "phone": f"+91 98{n:08d}",
                                    "overdraft": 500 * (n % 3)}, "INR")
        accounts.bind_card(d["id"], f"C{n:05d}", "commercial", None)
        accounts.bind_card(d["id"], f"P{n:05d}", "personal", None)
        for k in range(3):
            accounts.topup(d["id"], rng.randint(20_000, 90_000), "cash", f"R{n}-{k}",
                           f"topup:gen:{n}:{k}", "desk", "")
        tags += [f"C{n:05d}", f"C{n:05d}", f"P{n:05d}"]
    first_day = utcnow().replace(hour=6, minute=0, second=0, microsecond=0) - timedelta(days)
    made = 0
    for day in range(days):
        for k in range(per_day):
            start = first_day + timedelta(days=day, minutes=50 * k + rng.randint(0, 9))
            _session(stations[k % 3].id, rng.choice(tags), 1 + k % 2, start, rng)
            made += 1
    charged = ChargingSession.select().where(ChargingSession.fee_minor > 0).first()
    driver_id = Account.get_by_id(charged.account_id).driver_id
    accounts.correct(driver_id, "refund", 100, "slow charger", f"refund:gen:{charged.id}",
                     "desk", charged.id)
    accounts.correct(driver_id, "adjustment", -250, "cable fee", "adjust:gen:1", "desk", None)
    return made


@pytest.fixture
def box(make_settings: Callable[..., Settings], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A box on SQLite with a generated month, whatever backend this run uses."""
    monkeypatch.delenv("APPLIANCE_DATABASE_URL", raising=False)
    settings = make_settings(database_url=f"sqlite:///{tmp_path / 'data' / 'appliance.db'}")
    database = open_database(settings)
    assert database.run_sync(generate_site) == 240
    database.db.close()
    return settings


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


def test_copy_moves_a_month_and_the_check_passes(
        box: Settings, pg_url: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = _cli(capsys, "migrate-to-postgresql", pg_url, "--data-dir", str(box.data_path))
    assert code == 0, out
    assert "FAIL" not in out and "rows ledger_entry" in out and "balances: 12 accounts" in out
    source = Database(box.db_url)
    source.db.bind(ALL_MODELS)
    before = {t: n for t, n in dbcopy._counts(source).items()}
    old_counter = _counter(source)
    monkeypatch.setenv("APPLIANCE_DATABASE_URL", pg_url)
    code, out = _cli(capsys, "check", "--data-dir", str(box.data_path))
    assert code == 0 and "FAIL" not in out, out
    assert "sequences:" in out and "integrity_check: PostgreSQL" in out
    target = Database(pg_url)
    target.db.bind(ALL_MODELS)
    try:
        assert dbcopy._counts(target) == before and before["meter_reading"] > 350
        assert _counter(target) == old_counter + TX_ID_MARGIN
        same = target.run_sync(_fingerprint)
        source.db.bind(ALL_MODELS)
        assert source.run_sync(_fingerprint) == same
        target.db.bind(ALL_MODELS)
        highest = target.run_sync(lambda: Driver.select().order_by(Driver.id.desc()).first().id)
        new = target.run_sync(accounts.create_driver, {"name": "After the move"}, "INR")
        assert new["id"] == highest + 1  # the id sequence moved past the copied rows
    finally:
        source.db.close()
        target.db.close()


def _counter(database: Database) -> int:
    from appliance.db.models import Counter

    return database.run_sync(lambda: int(Counter.get_by_id("transaction_id").value))


def _fingerprint() -> list[Any]:
    """Values whose types differ between the backends: times, booleans, money, texts."""
    sessions = [(s.id, s.started_at, s.stopped_at, s.settled, s.fee_minor, s.flags, s.mode)
                for s in ChargingSession.select().order_by(ChargingSession.id)]
    ledger = [(e.id, e.amount, e.kind, e.reference, e.created_at)
              for e in LedgerEntry.select().order_by(LedgerEntry.id)]
    return [sessions, ledger]


def test_copy_refuses_a_target_with_tables(
        box: Settings, pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    target = Database(pg_url)
    target.db.execute_sql("CREATE TABLE something_else (id integer)")
    target.db.close()
    code, out = _cli(capsys, "migrate-to-postgresql", pg_url, "--data-dir", str(box.data_path))
    assert code == 2 and "not empty" in out


def test_verify_reports_a_balance_that_differs(box: Settings, pg_url: str) -> None:
    source, target = Database(box.db_url), Database(pg_url)
    source.db.bind(ALL_MODELS)
    try:
        dbcopy.copy_data(source, target, report=lambda line: None)
        target.db.execute_sql("UPDATE account SET balance = balance + 1 WHERE id = 3")
        result = dbcopy.verify(source, target, [check_ledger])
        assert not result.ok
        assert "FAIL  balances: 12 accounts, 1 differ" in result.lines
        assert any(line.startswith("FAIL  ledger:") for line in result.lines)
    finally:
        source.db.close()
        target.db.close()


def test_backup_on_postgresql_is_a_pg_dump(
        make_settings: Callable[..., Settings], pg_url: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPLIANCE_DATABASE_URL", pg_url)
    settings = make_settings(database_url=pg_url)
    open_database(settings).db.close()
    code, out = _cli(capsys, "backup", str(tmp_path / "site.dump"), "--data-dir",
                     str(settings.data_path))
    assert code == 0, out
    assert (tmp_path / "site.dump").read_bytes()[:5] == b"PGDMP"  # pg_restore's format
