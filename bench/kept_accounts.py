#!/usr/bin/env python3
"""The watchdog's kept accounts (issue 24, round thirteen): the writer's CPU per MeterValues
with `watch.KEEP_ACCOUNTS` on and off, alternating in one process, so the machine's drift
between processes does not enter the ratio. MeterValues in batches of 32 with the steady mix's
shape: every driver charges on two connectors and each batch holds one connector of each
driver, so the account's other session is never in the batch (it comes from the kept
sessions); a commit per batch, as the writer makes. In-process, on a real SQLite file in a
temporary directory; run by hand, not part of the test suite:

    python bench/kept_accounts.py [--stations 640] [--rounds 12] [--root TREE]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

T0 = datetime(2026, 1, 1)
BATCH = 32


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def main() -> int:
    parser = argparse.ArgumentParser(description="writer CPU per MeterValues, accounts kept "
                                                 "or read")
    parser.add_argument("--stations", type=int, default=640)
    parser.add_argument("--rounds", type=int, default=12, help="timed rounds, half each way")
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent),
                        help="work tree of the appliance to measure")
    args = parser.parse_args()
    sys.path.insert(0, args.root)
    from appliance.app import open_database
    from appliance.billing import accounts, tariffs, watch
    from appliance.billing import authorize as auth
    from appliance.charging import metering
    from appliance.charging.admin import create_station
    from appliance.config import load_settings
    from appliance.db.models import Station

    settings = load_settings(environ={}, overrides={
        "data_dir": tempfile.mkdtemp(prefix="appliance-kept-"), "host": "127.0.0.1",
        "port": 8080, "database_url": None})
    db = open_database(settings).db
    with db.atomic():
        tariff = tariffs.create_tariff({"name": "site", "energy_per_kwh": "18.50",
                                        "session_fee": "5.00", "tax_rate": "0.18"}, "INR")
        tariffs.assign(tariff["id"], None, None)
        ids = []
        for i in range(args.stations):
            create_station(f"KEPT-{i}", {})
            driver = accounts.create_driver({"name": f"d {i}", "phone": f"+91 90000{i:05d}"},
                                            "INR")
            for tag in (f"KA{i}", f"KB{i}"):
                accounts.bind_card(driver["id"], tag, "commercial", None)
            accounts.topup(driver["id"], 10_000_000, "cash", "", f"topup:{i}", "bench", "")
            ids.append(Station.get(Station.cpid == f"KEPT-{i}").id)
    tx = {}
    with db.atomic():
        for i, station_id in enumerate(ids):
            for connector, tag in ((1, f"KA{i}"), (2, f"KB{i}")):
                tx[(station_id, connector)], _ = auth.start_transaction(station_id, {
                    "connectorId": connector, "idTag": tag, "meterStart": 1000,
                    "timestamp": _time(T0)}, "{}", T0, 300, [])
    minute = [0]

    def one_round() -> int:
        """Every connector once: connector 1 of every station, then connector 2."""
        minute[0] += 1
        at = T0 + timedelta(minutes=minute[0])
        work = [(station_id, c) for c in (1, 2) for station_id in ids]
        for k in range(0, len(work), BATCH):
            reports: list[tuple[Any, ...]] = []
            for station_id, connector in work[k:k + BATCH]:
                payload = {"connectorId": connector, "transactionId": tx[(station_id, connector)],
                           "meterValue": [{"timestamp": _time(at), "sampledValue": [
                               {"value": str(1000 + 20 * minute[0]),
                                "context": "Sample.Periodic",
                                "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                               {"value": "7200", "context": "Sample.Periodic",
                                "measurand": "Power.Active.Import", "unit": "W"}]}]}
                reports.append((station_id, payload, at,
                                metering.parse_moments(payload["meterValue"])))
            with db.atomic():
                auth.meter_values_many(reports)
        return len(work)

    one_round()
    one_round()
    runs: dict[bool, list[float]] = {True: [], False: []}
    for r in range(args.rounds):
        keep = r % 2 == 0
        watch.KEEP_ACCOUNTS = keep
        one_round()  # into the mode first (kept: the accounts read once)
        cpu = time.process_time()
        n = one_round() + one_round()
        runs[keep].append((time.process_time() - cpu) / n * 1e6)
    print(f"bench/kept_accounts.py: appliance from {args.root}, {args.stations} stations, "
          f"MeterValues in batches of {BATCH}")
    for keep in (True, False):
        print(f"accounts {'kept' if keep else 'read'}: "
              f"{statistics.median(runs[keep]):.1f} us of writer CPU per MeterValues "
              f"(runs: {', '.join(f'{x:.1f}' for x in runs[keep])})")
    print(f"kept / read: {statistics.median(runs[True]) / statistics.median(runs[False]):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
