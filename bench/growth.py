#!/usr/bin/env python3
"""Cost per MeterValues early and late in a session (issue 24, goal 4): the writer's own path
(`billing.authorize.meter_values_many`: the readings, the session's live state, the running-out
watchdog that prices the session) timed at a session's 10th sample and again at its 10,000th,
for a session on a tariff with time-of-day bands and one on a plain tariff, each charged to a
driver's account (so the watchdog prices it on every sample).

In-process, on a real SQLite file in a temporary directory (or --database-url), from this work
tree or another (--root, e.g. a checkout of the code before the change): the ratio late/early is
the figure; 1.0 means constant work per MeterValues. Run by hand; not part of the test suite:

    python bench/growth.py [--samples 10000] [--rounds 15] [--root OTHER_TREE]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

PASS_RATIO = 1.5  # the 10,000th sample may cost at most this many times the 10th
T0 = datetime(2026, 12, 7, 8, 0, 0, 250_000)
NIGHT = {"name": "night", "days": "all", "start": "22:00", "end": "06:00",
         "energy_per_kwh": "7.5", "time_per_hour": "1"}


def ocpp_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=10_000, help="the late sample's number")
    parser.add_argument("--rounds", type=int, default=15,
                        help="MeterValues timed around each point (at most 17)")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="work tree whose appliance is measured")
    parser.add_argument("--database-url", help="e.g. an empty postgresql:// database")
    args = parser.parse_args()
    sys.path.insert(0, str(args.root))
    from appliance.app import open_database
    from appliance.billing import accounts, tariffs
    from appliance.billing import authorize as auth
    from appliance.charging.admin import create_station
    from appliance.config import load_settings
    from appliance.db.models import ChargingSession, MeterReading, Station

    data_dir = tempfile.mkdtemp(prefix="appliance-growth-")
    settings = load_settings(environ={}, overrides={
        "data_dir": data_dir, "host": "127.0.0.1", "port": 8080,
        "database_url": args.database_url})
    database = open_database(settings)
    db = database.db
    print(f"bench/growth.py: appliance from {args.root}, {args.samples} samples, "
          f"{args.rounds} timed MeterValues at each point")

    def setup() -> dict[str, tuple[int, int]]:
        out = {}
        for name, fields in (("banded", {"bands": [NIGHT]}), ("plain", {})):
            create_station(f"GROW-{name}", {})
            station = Station.get(Station.cpid == f"GROW-{name}")
            tariff = tariffs.create_tariff({"name": name, "energy_per_kwh": "18.50",
                                            "session_fee": "5.00", "tax_rate": "0.18",
                                            **fields}, "INR")
            tariffs.assign(tariff["id"], station.cpid, None)
            driver = accounts.create_driver({"name": name, "phone": f"+91 9000000{len(out)}"},
                                            "INR")
            accounts.bind_card(driver["id"], f"GROW{name}", "commercial", None)
            accounts.topup(driver["id"], 10_000_000, "cash", "", f"topup:{name}", "bench", "")
            tx, _ = auth.start_transaction(station.id, {
                "connectorId": 1, "idTag": f"GROW{name}", "meterStart": 1000,
                "timestamp": ocpp_time(T0)}, "{}", T0, 300, [])
            out[name] = (station.id, tx)
        return out

    def meter(station_id: int, tx: int, n: int) -> float:
        """The n-th sample (one a minute, 100 Wh each); seconds the writer's call took."""
        at = T0 + timedelta(minutes=n)
        payload = {"connectorId": 1, "transactionId": tx, "meterValue": [{
            "timestamp": ocpp_time(at), "sampledValue": [
                {"value": str(1000 + 100 * n), "measurand": "Energy.Active.Import.Register"},
                {"value": "6000", "measurand": "Power.Active.Import"}]}]}
        with db.atomic():
            t = time.perf_counter()
            auth.meter_values_many([(station_id, payload, at + timedelta(seconds=1))])
            return time.perf_counter() - t

    def fill(station_id: int, tx: int, first: int, last: int) -> None:
        """Samples first..last stored at once (as the writer stores them), so that the late
        point need not wait for ten thousand timed calls."""
        session = ChargingSession.get(ChargingSession.transaction_id == tx)
        rows = [(station_id, 1, session.id, T0 + timedelta(minutes=n),
                 T0 + timedelta(minutes=n, seconds=1), "Sample.Periodic", float(1000 + 100 * n),
                 6000.0, "[]") for n in range(first, last + 1)]
        fields = (MeterReading.station_id, MeterReading.connector_id, MeterReading.session,
                  MeterReading.timestamp, MeterReading.received_at, MeterReading.context,
                  MeterReading.energy_wh, MeterReading.power_w, MeterReading.sampled)
        with db.atomic():
            for i in range(0, len(rows), 500):
                MeterReading.insert_many(rows[i:i + 500], fields=fields).execute()
            ChargingSession.update(last_register_wh=1000 + 100 * last,
                                   energy_wh=100 * last).where(
                ChargingSession.id == session.id).execute()

    def run() -> dict[str, Any]:
        sites = setup()
        results: dict[str, Any] = {}
        for name, (station_id, tx) in sites.items():
            half = args.rounds // 2
            for n in range(1, 10 - half):
                meter(station_id, tx, n)
            early = [meter(station_id, tx, n) for n in range(10 - half, 10 - half + args.rounds)]
            late_from = args.samples - half
            fill(station_id, tx, 10 - half + args.rounds, late_from - 2)
            meter(station_id, tx, late_from - 1)  # whatever a tree keeps per session is warm
            late = [meter(station_id, tx, n) for n in range(late_from, late_from + args.rounds)]
            results[name] = {"early_ms": statistics.median(early) * 1000,
                             "late_ms": statistics.median(late) * 1000,
                             "early_p90_ms": sorted(early)[int(len(early) * 0.9)] * 1000,
                             "late_p90_ms": sorted(late)[int(len(late) * 0.9)] * 1000}
        return results

    results = database.run_sync(run)
    db.close()
    shutil.rmtree(data_dir, ignore_errors=True)
    print(f"\ntariff    MeterValues ~10th (median ms, p90)   ~{args.samples}th (median ms, p90)"
          "   late/early")
    ok = True
    for name, r in results.items():
        ratio = r["late_ms"] / r["early_ms"]
        ok = ok and ratio <= PASS_RATIO
        print(f"{name:<9} {r['early_ms']:>10.3f} {r['early_p90_ms']:>8.3f} "
              f"{r['late_ms']:>22.3f} {r['late_p90_ms']:>8.3f} {ratio:>14.2f}x")
    print(f"\n{'PASS' if ok else 'FAIL'}  cost per MeterValues does not grow with the session: "
          f"at the {args.samples}th sample at most {PASS_RATIO}x the 10th, for both tariffs")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
