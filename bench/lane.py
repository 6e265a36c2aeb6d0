#!/usr/bin/env python3
"""The writer's page lane against its queue: how long a person's one-row write (a top-up, a QR
start's hold) waits for its commit while the writer is busy with chargers' report batches,
through `Database.run` (behind every job queued) and through `Database.run_first` (after the
batch the writer is on only). In-process, a real SQLite file with `synchronous=FULL` (the
appliance's own `Database`), no sockets:

    python bench/lane.py [--rounds 200] [--reports 300] [--every-ms 20] [--runs 3]

A feeder hands the writer a report job of `--reports` rows every `--every-ms` (the report
writer's one job per loop turn on a busy site), so the writer is mostly busy and a job often
waits behind the one it is on; the probe alternates its write between the two lanes. The
writer's batch time is printed (its share of the time: how busy the writer is).
Not part of the test suite."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance.db.database import Database  # noqa: E402


def _insert(db: Database, n: int) -> None:
    """`n` reports' worth of writer work: a row each, through peewee as the writer's jobs go."""
    for i in range(n):
        db.db.execute_sql("INSERT INTO t (x) VALUES (?)", (i,))
        db.db.execute_sql("SELECT count(*) FROM t WHERE id > last_insert_rowid() - 5")


async def one_run(rounds: int, reports: int, every_s: float) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lane.db"
        with contextlib.closing(sqlite3.connect(path)) as made:
            made.execute("PRAGMA journal_mode=WAL")
            made.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER)")
        db = Database(f"sqlite:///{path}")
        db.start()
        stop = asyncio.Event()
        pending: set[asyncio.Future[None]] = set()

        async def feeder() -> None:
            while not stop.is_set():
                job = asyncio.ensure_future(db.run(_insert, db, reports))
                pending.add(job)
                job.add_done_callback(pending.discard)
                await asyncio.sleep(every_s)

        out: dict[str, list[float]] = {"run": [], "run_first": []}
        t0 = time.perf_counter()
        jobs0 = db.jobs_done
        feeding = asyncio.create_task(feeder())
        await asyncio.sleep(0.5)
        for i in range(rounds):
            lane = "run_first" if i % 2 else "run"
            t = time.perf_counter()
            await getattr(db, lane)(_insert, db, 1)
            out[lane].append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.02)
        stop.set()
        await feeding
        await asyncio.gather(*pending)
        out["busy"] = [(db.jobs_done - jobs0) / (time.perf_counter() - t0)]
        db.stop()
        return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--reports", type=int, default=300, help="inserts per report job")
    parser.add_argument("--every-ms", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    ratios = []
    for n in range(args.runs):
        out = asyncio.run(one_run(args.rounds, args.reports, args.every_ms / 1000))
        line = []
        for lane in ("run", "run_first"):
            v = out[lane]
            line.append(f"{lane}: p50 {statistics.median(v):.1f} p99 {pct(v, 99):.1f} "
                        f"max {max(v):.1f} ms")
        ratios.append(pct(out["run_first"], 99) / pct(out["run"], 99))
        print(f"run {n + 1} ({out['busy'][0]:.0f} jobs/s through the writer): "
              + ";  ".join(line), flush=True)
    print(f"p99 run_first / run: median {statistics.median(ratios):.2f} "
          f"({', '.join(f'{r:.2f}' for r in ratios)})")


if __name__ == "__main__":
    main()
