#!/usr/bin/env python3
"""Nightly job benchmark: a generated year of history for many chargers (default 100, two
connectors each, a few sessions a day per connector with energy and power samples, drivers,
top-ups and charge rows), written with bulk inserts into a fresh data dir, then timed:

  catch-up     the first start: the last 31 days' statistics and reports computed
  first night  yesterday again, backup, and pruning of the ~9 months past retention (90 days)
  next night   a steady night: yesterday, backup, nothing left to prune
  station page one charger's 30 days read back from stored rows (today computed on the fly)

Run by hand (see bench/README.md); it is not part of the test suite:
  python bench/nightly.py [--chargers 100] [--days 365] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from peewee import Model  # noqa: E402

from appliance.app import open_database  # noqa: E402
from appliance.config import load_settings  # noqa: E402
from appliance.db.database import Database  # noqa: E402
from appliance.db.models import (  # noqa: E402
    Account,
    ChargingSession,
    Connector,
    Driver,
    MeterReading,
    Station,
    StatusEvent,
)
from appliance.db.models_money import LedgerEntry  # noqa: E402
from appliance.reports.nightly import catch_up, nightly  # noqa: E402
from appliance.reports.stats import station_daily  # noqa: E402

SAMPLE_MIN = 10  # the sites' MeterValueSampleInterval is 60 s; 10 min keeps generation short


class Bulk:
    """executemany straight on the APSW cursor, with the models' Python defaults filled in."""

    def __init__(self, database: Database) -> None:
        self.db = database.db
        self.counts: dict[str, int] = {}

    def insert(self, model: type[Model], rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        fields = [f for f in model._meta.sorted_fields if f.name in rows[0] or (
            f.default is not None and not f.primary_key)]
        cols = ", ".join(f'"{f.column_name}"' for f in fields)
        sql = (f'INSERT INTO "{model._meta.table_name}" ({cols}) '
               f'VALUES ({", ".join("?" * len(fields))})')
        defaults = {f.name: (f.default() if callable(f.default) else f.default) for f in fields}
        cursor = self.db.connection().cursor()
        cursor.executemany(sql, [tuple(_value(r.get(f.name, defaults[f.name])) for f in fields)
                                 for r in rows])
        self.counts[model.__name__] = self.counts.get(model.__name__, 0) + len(rows)


def _value(v: Any) -> Any:
    return str(v) if isinstance(v, datetime) else v


def _day_sessions(rng: random.Random, day_start: datetime) -> Iterator[tuple[datetime, int]]:
    """A connector's sessions of one day: (start, minutes), none overlapping."""
    moment = day_start + timedelta(hours=6 + rng.random() * 3)
    for _ in range(rng.randint(1, 4)):
        minutes = rng.randint(20, 150)
        yield moment, minutes
        moment += timedelta(minutes=minutes + rng.randint(30, 200))


def generate(database: Database, chargers: int, days: int, now: datetime) -> dict[str, int]:
    rng = random.Random(7)
    bulk = Bulk(database)
    first = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    database.db.connect(reuse_if_open=True)
    with database.db.atomic():
        bulk.insert(Station, [{"id": i, "cpid": f"CP{i:04d}", "key": f"CP{i:04d}",
                               "approved": True, "online": True, "first_seen_at": first,
                               "last_seen_at": now} for i in range(1, chargers + 1)])
        bulk.insert(Connector, [{"station": i, "connector_id": c, "status": "Available"}
                                for i in range(1, chargers + 1) for c in (1, 2)])
        drivers = chargers * 5
        bulk.insert(Driver, [{"id": d, "name": f"Driver {d}", "group_tag": f"G{d:08d}"}
                             for d in range(1, drivers + 1)])
        bulk.insert(Account, [{"id": d, "driver": d, "currency": "INR"}
                              for d in range(1, drivers + 1)])
    ids = {"session": 0, "ledger": 0}
    for station in range(1, chargers + 1):
        with database.db.atomic():
            _station_year(bulk, rng, station, drivers, first, now, ids)
    with database.db.atomic():  # the cached balances agree with the generated ledger
        database.db.execute_sql(
            "UPDATE account SET balance = (SELECT COALESCE(SUM(amount), 0) FROM ledger_entry "
            "WHERE ledger_entry.account_id = account.id)")
    return bulk.counts


def _station_year(bulk: Bulk, rng: random.Random, station: int, drivers: int,
                  first: datetime, now: datetime, ids: dict[str, int]) -> None:
    sessions, samples, events, ledger = [], [], [], []
    day = first
    while day < now - timedelta(hours=12):
        for connector in (1, 2):
            events.append({"station": station, "connector_id": connector, "status": "Available",
                           "error_code": "NoError", "received_at": day})
            for start, minutes in _day_sessions(rng, day):
                ids["session"] += 1
                sid, driver = ids["session"], rng.randint(1, drivers)
                stop, power = start + timedelta(minutes=minutes), rng.randint(3000, 22000)
                wh = power * minutes // 60
                sessions.append({"id": sid, "station": station, "connector_id": connector,
                                 "transaction_id": sid, "start_key": f"k{sid}", "id_tag": "T",
                                 "id_tag_key": f"T{driver}", "start_status": "Accepted",
                                 "meter_start": 1, "meter_stop": 1 + wh, "started_at": start,
                                 "stopped_at": stop, "state": "completed", "energy_wh": wh,
                                 "driver": driver, "account": driver, "mode": "commercial",
                                 "fee_minor": wh // 50, "settled": True})
                for status, at in (("Charging", start), ("Available", stop)):
                    events.append({"station": station, "connector_id": connector,
                                   "status": status, "error_code": "NoError", "received_at": at})
                for m in range(SAMPLE_MIN, minutes, SAMPLE_MIN):
                    at = start + timedelta(minutes=m)
                    wh_now = 1 + power * m / 60
                    samples.append({
                        "station_id": station, "connector_id": connector, "session": sid,
                        "timestamp": at, "received_at": at, "context": "Sample.Periodic",
                        "energy_wh": float(wh_now), "power_w": float(power),
                        "sampled": json.dumps([
                            {"value": str(wh_now), "measurand": "Energy.Active.Import.Register"},
                            {"value": str(power), "measurand": "Power.Active.Import"}],
                            separators=(",", ":"))})
                ids["ledger"] += 1
                ledger.append({"account": driver, "amount": -(wh // 50), "kind": "charge",
                               "reference": f"charge:{sid}", "session": sid, "created_at": stop})
                if rng.random() < 0.2:
                    ledger.append({"account": driver, "amount": 50000, "kind": "topup",
                                   "reference": f"topup:{sid}", "created_at": start,
                                   "method": rng.choice(("cash", "card_terminal", "other"))})
        day += timedelta(days=1)
    for model, rows in ((ChargingSession, sessions), (StatusEvent, events),
                        (MeterReading, samples), (LedgerEntry, ledger)):
        for i in range(0, len(rows), 5000):
            bulk.insert(model, rows[i:i + 5000])


async def timed(label: str, coro: Any) -> Any:
    started = time.perf_counter()
    result = await coro
    print(f"{label:<14} {time.perf_counter() - started:8.2f} s", flush=True)
    return result


async def run_jobs(database: Database, settings: Any, now: datetime) -> None:
    database.start()
    try:
        days = await timed("catch-up", catch_up(database, settings, now))
        print(f"{'':<14} {len(days)} days, {days[-1].rows} rows a day")
        first = await timed("first night", nightly(database, settings, now))
        size = first.backup.stat().st_size / 1e6 if first.backup else 0
        print(f"{'':<14} {first.pruned:,} samples pruned, backup {size:.0f} MB")
        await timed("next night", nightly(database, settings, now))
        tz = settings.tz
        today = now.replace(tzinfo=UTC).astimezone(tz).date()
        await timed("station page", database.read(station_daily, 1,
                                                  today - timedelta(days=29), today, tz))
    finally:
        database.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chargers", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--keep", help="data dir to keep (default: a temporary one)")
    args = parser.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp(prefix="nightly-bench-"))
    settings = load_settings(environ={}, overrides={"data_dir": str(folder),
                                                    "site_timezone": "Asia/Kolkata"})
    database = open_database(settings)
    now = datetime.now(UTC).replace(tzinfo=None)
    started = time.perf_counter()
    counts = generate(database, args.chargers, args.days, now)
    database.db.close()
    size = (folder / "appliance.db").stat().st_size / 1e6
    print(f"generated      {time.perf_counter() - started:8.2f} s  {args.chargers} chargers, "
          f"{args.days} days, {size:.0f} MB: "
          + ", ".join(f"{n} {k}" for k, n in counts.items()), flush=True)
    try:
        asyncio.run(run_jobs(database, settings, now))
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
