#!/usr/bin/env python3
"""The database writer's own CPU per message (issue 24, round four): MeterValues recorded and
judged by the running-out watchdog in batches of several sizes (`authorize.meter_values_many`,
as the report writer hands them over), and Authorize + StopTransaction + StartTransaction cycles
charged to accounts, each in its own transaction as the writer runs them. No sockets, no event
loop: what the writer thread itself spends, without the noise of the OCPP traffic around it.

In-process, on a real SQLite file in a temporary directory (or --database-url), from this work
tree or another (--root, e.g. a checkout of the code before a change). Run by hand; not part of
the test suite:

    python bench/writer.py [--stations 100] [--batches 5,20,100] [--rounds 3] [--root TREE]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

T0 = datetime(2026, 12, 7, 8, 0, 0, 250_000)
WAL_KEEP = 2048  # WAL pages past which a timed run checkpoints (its CPU left out)


def ocpp_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _io() -> dict[str, int]:
    """This process's I/O counters so far (Linux; empty elsewhere)."""
    try:
        with open("/proc/self/io") as f:
            return {k: int(v) for k, v in (line.split(":") for line in f)}
    except OSError:
        return {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=100,
                        help="stations, each with a session charged to its driver's account")
    parser.add_argument("--batches", default="5,20,100",
                        help="MeterValues batch sizes to time (at most --stations)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each figure (median)")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="work tree whose appliance is measured")
    parser.add_argument("--database-url", help="e.g. an empty postgresql:// database")
    parser.add_argument("--open-rate", type=float, default=0.0,
                        help="also: MeterValues arriving open-loop at this many a second (each "
                        "station in turn, evenly spread) through the real report writer and "
                        "database writer thread, with the writer's gathering (an open site) and "
                        "without; prints reports per batch, the process's CPU per report and "
                        "the latency to the answer (--stations at least twice the rate: a "
                        "station sending over 1 a second makes the site look closed-loop)")
    parser.add_argument("--hold-ms", type=float, default=5.0,
                        help="--open-rate: how long the database writer's batches gather on "
                        "an open site when held (the appliance's batch.HOLD_S: 5 ms)")
    parser.add_argument("--open-seconds", type=float, default=15.0,
                        help="seconds of each --open-rate run")
    args = parser.parse_args()
    sys.path.insert(0, str(args.root))
    from appliance.app import open_database
    from appliance.billing import accounts, tariffs
    from appliance.billing import authorize as auth
    from appliance.charging import metering
    from appliance.charging.admin import create_station
    from appliance.config import load_settings
    from appliance.db.fastsql import is_sqlite as fastsql_is_sqlite
    from appliance.db.models import Station
    from appliance.people import audit

    sizes = [min(int(n), args.stations) for n in args.batches.split(",")]
    data_dir = tempfile.mkdtemp(prefix="appliance-writer-")
    settings = load_settings(environ={}, overrides={
        "data_dir": data_dir, "host": "127.0.0.1", "port": 8080,
        "database_url": args.database_url})
    database = open_database(settings)
    db = database.db
    print(f"bench/writer.py: appliance from {args.root}, {args.stations} stations, "
          f"{args.rounds} rounds")

    def setup() -> list[int]:
        tariff = tariffs.create_tariff({"name": "site", "energy_per_kwh": "18.50",
                                        "session_fee": "5.00", "tax_rate": "0.18"}, "INR")
        tariffs.assign(tariff["id"], None, None)
        ids = []
        for i in range(args.stations):
            create_station(f"WRITER-{i}", {})
            driver = accounts.create_driver({"name": f"driver {i}",
                                             "phone": f"+91 90000{i:05d}"}, "INR")
            for tag in (f"WA{i}", f"WB{i}"):
                accounts.bind_card(driver["id"], tag, "commercial", None)
            accounts.topup(driver["id"], 10_000_000, "cash", "", f"topup:{i}", "bench", "")
            ids.append(Station.get(Station.cpid == f"WRITER-{i}").id)
            drivers.append(driver["id"])
        return ids

    drivers: list[int] = []

    with db.atomic():
        ids = setup()
    txs = {}
    with db.atomic():
        for i, station_id in enumerate(ids):
            txs[station_id], _ = auth.start_transaction(station_id, {
                "connectorId": 1, "idTag": f"WA{i}", "meterStart": 1000,
                "timestamp": ocpp_time(T0)}, "{}", T0, 300, [])

    minute = [0]

    def reports(stations: list[int]) -> list[tuple[Any, ...]]:
        minute[0] += 1
        at = T0 + timedelta(minutes=minute[0])
        out = []
        for station_id in stations:
            payload = {"connectorId": 1, "transactionId": txs[station_id], "meterValue": [{
                "timestamp": ocpp_time(at), "sampledValue": [
                    {"value": str(1000 + 100 * minute[0]), "context": "Sample.Periodic",
                     "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": "7200", "context": "Sample.Periodic",
                     "measurand": "Power.Active.Import", "unit": "W"}]}]}
            out.append((station_id, payload, at + timedelta(seconds=1),
                        metering.parse_moments(payload["meterValue"])))
        return out

    wal = [0, 0]  # pages in the WAL after the last commit, pages written since counting began
    meter_pages: dict[int, float] = {}  # batch size -> WAL pages per MeterValues
    cycle_pages = [0.0]  # WAL pages per charged cycle, the last one timed

    def on_commit(_conn: Any, _name: str, pages: int) -> int:
        wal[1] += pages - wal[0] if pages >= wal[0] else pages  # (a checkpoint restarted it)
        wal[0] = pages
        return 0  # SQLITE_OK; this hook replaces SQLite's automatic checkpoint meanwhile

    def pages_since(start: int, calls: int) -> float:
        return (wal[1] - start) / max(calls, 1)

    def checkpoint() -> float:
        """Copy the WAL into the database file once it holds WAL_KEEP pages, as the server's
        checkpoint thread does every half second (off the writer thread), and return the CPU
        that took, which the caller leaves out. Without it the WAL grew through the whole run,
        and every page the writer read was first looked for in an ever longer WAL index: the
        same batches cost 51, then 74, then 89 us a MeterValues in three rounds."""
        if not fastsql_is_sqlite() or wal[0] < WAL_KEEP:
            return 0.0
        cpu = time.process_time()
        db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        return time.process_time() - cpu

    order = random.Random(7).sample(ids, len(ids))

    def meter_cost(size: int) -> float:
        """CPU microseconds per MeterValues, in batches of `size` (a transaction each), the
        stations in no order, as a site's reports come: stations taken in the order they were
        made write sessions side by side, which share pages (0.6 WAL pages a MeterValues at
        10,000 stations, against 2.5 in no order, and some 30 us less each)."""
        batches = [reports(order[j:j + size]) for _ in range(4)
                   for j in range(0, len(order) - size + 1, size)]
        cpu, start, left_out = time.process_time(), wal[1], 0.0
        for batch in batches:
            with db.atomic():
                auth.meter_values_many(batch)
            left_out += checkpoint()
        used, n = time.process_time() - cpu - left_out, sum(len(b) for b in batches)
        meter_pages[size] = pages_since(start, n)
        return used / n * 1e6

    cycles: dict[int, int] = {}  # station -> its open transaction on connector 2

    def cycle_cost() -> float:
        """CPU microseconds per Authorize + StopTransaction + StartTransaction (connector 2)."""
        minute[0] += 10
        cpu, start, left_out = time.process_time(), wal[1], 0.0
        for i, station_id in enumerate(ids):
            at = T0 + timedelta(minutes=minute[0], seconds=i)
            with db.atomic():
                auth.authorize(f"WB{i}", station_id, at)
            if station_id in cycles:
                with db.atomic():
                    auth.stop_transaction(station_id, {
                        "transactionId": cycles[station_id], "idTag": f"WB{i}",
                        "meterStop": 5000 + minute[0], "timestamp": ocpp_time(at),
                        "reason": "Local"}, "{}", at, 300, 22_000)
            with db.atomic():
                cycles[station_id], _ = auth.start_transaction(station_id, {
                    "connectorId": 2, "idTag": f"WB{i}", "meterStart": 5000 + minute[0],
                    "timestamp": ocpp_time(at)}, "{}", at, 300, [])
            left_out += checkpoint()
        used = (time.process_time() - cpu - left_out) / len(ids) * 1e6
        cycle_pages[0] = pages_since(start, len(ids))
        return used

    topups = [0]

    def topup_job(i: int) -> Any:
        """A desk top-up as the API's writer job makes it: the booking and its audit row."""
        topups[0] += 1
        driver_id = drivers[i % len(drivers)]
        result = accounts.topup(driver_id, 100, "cash", "", f"topup:bench-{topups[0]}",
                                "bench", "")
        audit.write("bench", "money.topup", str(driver_id), {"amount": 100}, None)
        return result

    def topup_cost() -> float:
        """CPU microseconds per desk top-up job, each in its own transaction (as the page lane
        commits a person's job in a batch of its own)."""
        cpu, left_out = time.process_time(), 0.0
        for i in range(len(ids)):
            with db.atomic():
                topup_job(i)
            left_out += checkpoint()
        return (time.process_time() - cpu - left_out) / len(ids) * 1e6

    def count_statements() -> None:
        """One more cycle and one batch of each size, counting the statements each call runs
        (BEGIN and COMMIT not counted: they are per writer batch, not per call)."""
        plain, calls = db.execute_sql, []

        def counting(sql: str, params: Any = None, *rest: Any, **kw: Any) -> Any:
            calls[-1][1] += 1
            return plain(sql, params, *rest, **kw)

        def counted(name: str, call: Any) -> Any:
            calls.append([name, 0])
            with db.atomic():
                return call()

        db.execute_sql = counting
        try:
            minute[0] += 10
            at = T0 + timedelta(minutes=minute[0])
            station_id = ids[0]
            counted("Authorize", lambda: auth.authorize("WB0", station_id, at))
            counted("StopTransaction", lambda: auth.stop_transaction(station_id, {
                "transactionId": cycles[station_id], "idTag": "WB0",
                "meterStop": 5000 + minute[0], "timestamp": ocpp_time(at), "reason": "Local"},
                "{}", at, 300, 22_000))
            cycles[station_id], _ = counted("StartTransaction", lambda: auth.start_transaction(
                station_id, {"connectorId": 2, "idTag": "WB0", "meterStart": 5000 + minute[0],
                             "timestamp": ocpp_time(at)}, "{}", at, 300, []))
            for size in sizes:
                batch = reports(ids[:size])
                counted(f"MeterValues batch of {size}", lambda b=batch: auth.meter_values_many(b))
            counted("desk top-up", lambda: topup_job(0))
        finally:
            db.execute_sql = plain
        print("statements per call: " + ", ".join(f"{name} {n}" for name, n in calls)
              + f"; a cycle {sum(n for _, n in calls[:3])}")

    def open_run(hold: bool) -> str:
        """Reports at --open-rate a second, each station in turn, through the report writer
        (held on an open site, or never); what the batches and the process cost."""
        import asyncio

        from appliance.ocpp.batch import WINDOW_S, ReportWriter

        async def feed() -> tuple[int, int, float, list[float], dict[str, int]]:
            writer = ReportWriter(database, gap_s=args.hold_ms / 1000 if hold else 0.0)
            loop = asyncio.get_running_loop()
            latencies: list[float] = []
            pending: set[asyncio.Task[None]] = set()

            async def one(report: tuple[Any, ...]) -> None:
                t = loop.time()
                await writer.run(auth.meter_values, *report, many=auth.meter_values_many,
                                 source=report[0])
                latencies.append(loop.time() - t)

            batch: list[tuple[Any, ...]] = []

            async def pump(seconds: float) -> int:
                step, n, start = 1.0 / args.open_rate, 0, loop.time()
                while loop.time() - start < seconds:
                    if not batch:
                        batch.extend(reports(order))
                    task = loop.create_task(one(batch.pop()))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                    n += 1
                    await asyncio.sleep(max(0.0, start + n * step - loop.time()))
                return n

            # The report writer judges the site every WINDOW_S on the reports of the window
            # before: untimed, one window and a little, so that a held run is held from its
            # first timed report (a 10 s run was half unheld: 2.6 reports a batch against 19).
            await pump(WINDOW_S * 1.2 if hold else 1.0)
            latencies.clear()
            commits = database.commits
            io_before = _io()
            cpu = time.process_time()
            n = await pump(args.open_seconds)
            await asyncio.gather(*pending)
            used = time.process_time() - cpu
            io = {k: v - io_before.get(k, 0) for k, v in _io().items()}
            return n, database.commits - commits, used, sorted(latencies), io

        db.close()  # the writer thread has its own connection
        database.start()
        try:
            n, commits, used, lat, io = asyncio.run(feed())
        finally:
            database.stop()
        p50, p99 = lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000
        return (f"{'held on an open site' if hold else 'never held':>20}: {n} reports in "
                f"{commits} commits ({n / max(commits, 1):.1f} a batch), "
                f"{used / n * 1e6:.0f} us of CPU each (loop and writer), latency p50 "
                f"{p50:.1f} ms, p99 {p99:.1f} ms; written {io.get('wchar', 0) / n / 1024:.1f} KB "
                f"in {io.get('syscw', 0) / n:.1f} writes a report")

    if args.open_rate:
        try:
            print(f"open-loop MeterValues at {args.open_rate:g} a second from {len(ids)} "
                  f"stations, {args.open_seconds:g} s each, {args.rounds} rounds:")
            for _ in range(args.rounds):
                for hold in (False, True):
                    print("  " + open_run(hold), flush=True)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
        return 0

    try:
        if fastsql_is_sqlite():
            db.connection().setwalhook(on_commit)
        cycle_cost()  # every connector 2 has a session from here on: each cycle stops one
        for size in sizes:
            runs = [meter_cost(size) for _ in range(args.rounds)]
            print(f"MeterValues in batches of {size:4d}: {statistics.median(runs):7.1f} us of "
                  f"writer CPU each (runs: {', '.join(f'{r:.1f}' for r in runs)}); "
                  f"{meter_pages[size]:.2f} WAL pages written each")
        runs = [cycle_cost() for _ in range(args.rounds)]
        print(f"Authorize + StopTransaction + StartTransaction: {statistics.median(runs):7.0f} "
              f"us of writer CPU per cycle (runs: {', '.join(f'{r:.0f}' for r in runs)}); "
              f"{cycle_pages[0]:.1f} WAL pages written per cycle (three transactions)")
        runs = [topup_cost() for _ in range(args.rounds)]
        print(f"desk top-up (booking and audit row, a transaction each): "
              f"{statistics.median(runs):7.0f} us of writer CPU each (runs: "
              f"{', '.join(f'{r:.0f}' for r in runs)})")
        count_statements()
    finally:
        db.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
