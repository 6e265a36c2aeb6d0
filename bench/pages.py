#!/usr/bin/env python3
"""Page speed on a big site: a generated year of history for 100 chargers (bench/nightly.py's
generator), its nightly statistics computed, then the real app on 127.0.0.1 serves the pages a
manager opens every day to a logged-in staff member, and this prints p50/p95 render times.

Run by hand (see bench/README.md); it is not part of the test suite:
  python bench/pages.py [--chargers 100] [--days 365] [--rounds 20] [--keep DIR]
                        [--pages dashboard,...] [--root OTHER_TREE]

`--keep DIR` keeps the data dir, and a kept one is served again as it is (no generation, no
catch-up): the same site for two trees (`--root`, the code to serve it with, e.g. a checkout of
the code before a change) and for repeated runs.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from peewee import SQL

ROOT = Path(__file__).resolve().parents[1]
for _n, _arg in enumerate(sys.argv):  # --root: whose appliance to import (before it is)
    if _arg == "--root" and _n + 1 < len(sys.argv):
        ROOT = Path(sys.argv[_n + 1]).resolve()
    elif _arg.startswith("--root="):
        ROOT = Path(_arg.split("=", 1)[1]).resolve()
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from appliance import keys  # noqa: E402
from appliance.app import create_app, open_database  # noqa: E402
from appliance.config import Settings, load_settings  # noqa: E402
from appliance.db.models import ChargingSession, Station, StatusEvent  # noqa: E402
from appliance.people.staff import create_staff  # noqa: E402
from appliance.reports.nightly import catch_up  # noqa: E402
from bench.nightly import Bulk, generate  # noqa: E402

PAGES = {
    "dashboard": "/",
    "charger page (30 days)": "/stations/CP0001",
    "charger page (90 days)": "/stations/CP0001?from={days90}",
    "driver page": "/drivers/1",
    "sessions list": "/sessions",
    "sessions of a charger": "/sessions?station=CP0002",
    "drivers list": "/drivers",
}
PASSWORD = "bench-password-1"


def steady(database: Any, running: float, offline: float, now: datetime) -> dict[str, int]:
    """A site's state at a moment of a steady day on top of its history: `offline` of the
    chargers offline, and on `running` of the online ones' connectors a session charging
    (started in the last five hours, a Charging status event when it started), what the
    dashboard's counts, "Charging now", power drawn and hours charging today read."""
    bulk = Bulk(database)
    db = database.db
    db.connect(reuse_if_open=True)
    with db.atomic():
        stations = [sid for (sid,) in db.execute_sql("SELECT id FROM station ORDER BY id")]
        every = max(1, round(1 / offline)) if offline else 0
        off = [sid for n, sid in enumerate(stations) if every and n % every == every - 1]
        if off:
            ids = ",".join(map(str, off))
            db.execute_sql("UPDATE station SET online = FALSE, last_seen_at = ? "
                           f"WHERE id IN ({ids})",
                           [str(now - timedelta(hours=3))])
        offset = int(db.execute_sql("SELECT COALESCE(MAX(id), 0) FROM charging_session")
                     .fetchone()[0])
        drivers = int(db.execute_sql("SELECT COUNT(*) FROM driver").fetchone()[0])
        sessions, events, n = [], [], 0
        online = sorted(set(stations) - set(off))
        for i, (sid, connector) in enumerate((s, c) for s in online for c in (1, 2)):
            if (i * 7919) % 1000 >= running * 1000:
                continue
            n += 1
            sess, driver = offset + n, 1 + (i % max(1, drivers))
            start = now - timedelta(minutes=1 + (i * 37) % 300)
            power = 3000 + (i * 131) % 19000
            sessions.append({"id": sess, "station": sid, "connector_id": connector,
                             "transaction_id": sess, "start_key": f"k{sess}", "id_tag": "T",
                             "id_tag_key": f"T{driver}", "start_status": "Accepted",
                             "meter_start": 1, "started_at": start, "state": "active",
                             "energy_wh": power * int((now - start).total_seconds()) // 3600,
                             "power_w": power, "driver": driver, "account": driver,
                             "mode": "commercial"})
            events.append({"station": sid, "connector_id": connector, "status": "Charging",
                           "error_code": "NoError", "received_at": start})
        for model, rows in ((ChargingSession, sessions), (StatusEvent, events)):
            for k in range(0, len(rows), 5000):
                bulk.insert(model, rows[k:k + 5000])
        db.execute_sql("UPDATE connector SET status = 'Charging' WHERE EXISTS (SELECT 1 FROM "
                       "charging_session s WHERE s.station_id = connector.station_id AND "
                       "s.connector_id = connector.connector_id AND s.state = 'active')")
    return {"offline": len(off), "running": n}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def login(session: aiohttp.ClientSession, base: str) -> None:
    async with session.get(base + "/login") as resp:
        token = re.search(r'name="csrf_token" value="([^"]+)"', await resp.text())
    assert token, "no CSRF token on the login page"
    async with session.post(base + "/login", allow_redirects=False, data={
            "csrf_token": token.group(1), "username": "bench", "password": PASSWORD}) as resp:
        assert resp.status == 303, f"login failed: {resp.status}"


async def measure(settings: Settings, rounds: int, pages: list[str], fresh: bool,
                  catch: bool = True, offline: float | None = None) -> None:
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    if offline is not None:
        # The app marks every charger offline at its start (none is connected yet): the
        # steady site's online ones (all but every k-th, as `steady` chose) are online again.
        every = max(1, round(1 / offline)) if offline else 0

        def online() -> int:
            query = Station.update(online=True)
            if every:
                query = query.where(SQL(f'"id" % {every} != 0'))
            return int(query.execute())

        now_online = await runner.app[keys.DATABASE].run(online)
        print(f"{now_online} chargers online while the pages are timed", flush=True)
    started = time.perf_counter()
    if fresh and catch:
        # What a box does at its first start: the last month's nightly statistics (older days
        # of a range are computed from the raw history when a page asks for them).
        await catch_up(runner.app[keys.DATABASE], settings)
        print(f"nightly catch-up (31 days) in {time.perf_counter() - started:.1f} s",
              flush=True)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}"
    days90 = (datetime.now(UTC).date() - timedelta(days=89)).isoformat()
    try:
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as session:
            await login(session, base)
            # cpu: the whole process's CPU per load (server and client: the same client for
            # every tree), which a shared machine disturbs far less than the wall-clock times
            print(f"{'page':28} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'KB':>6} "
                  f"{'cpu p50':>8} {'cpu min':>8}")
            for label in pages:
                path = PAGES[label]
                times, cpu, size = [], [], 0
                for _ in range(rounds):
                    started, cpu_started = time.perf_counter(), time.process_time()
                    async with session.get(base + path.format(days90=days90)) as resp:
                        body = await resp.read()
                        assert resp.status == 200, f"{path}: {resp.status}"
                    times.append((time.perf_counter() - started) * 1000)
                    cpu.append((time.process_time() - cpu_started) * 1000)
                    size = len(body)
                print(f"{label:28} {statistics.median(times):8.1f} {percentile(times, 0.95):8.1f} "
                      f"{max(times):8.1f} {size / 1024:6.0f} {statistics.median(cpu):8.1f} "
                      f"{min(cpu):8.1f}", flush=True)
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chargers", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--keep", help="data dir to keep (default: a temporary one); "
                        "one kept before is served again as it is")
    parser.add_argument("--pages", default=",".join(PAGES),
                        help="which pages, by label, comma-separated (default: all)")
    parser.add_argument("--no-catch-up", action="store_true",
                        help="skip the nightly catch-up (a big site's dashboard does not need it)")
    parser.add_argument("--running", type=float, default=0.0,
                        help="of the online chargers' connectors, the share with a session "
                        "charging now (started today), e.g. 0.5 (default: none)")
    parser.add_argument("--offline", type=float, default=0.0,
                        help="the share of chargers offline, e.g. 0.1 (default: none); "
                        "give it again when serving a kept site")
    parser.add_argument("--root", default=str(ROOT),
                        help="the tree whose appliance serves (default: this one)")
    args = parser.parse_args()
    pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    unknown = [p for p in pages if p not in PAGES]
    if unknown:
        parser.error(f"no such page: {', '.join(unknown)} (pages: {', '.join(PAGES)})")
    # A steady site (--running/--offline) is served with its online chargers online.
    offline = args.offline if args.running or args.offline else None
    mine = ROOT == Path(__file__).resolve().parents[1]
    print(f"bench/pages.py: appliance from {'this tree' if mine else 'OTHER_TREE'}", flush=True)
    folder = Path(args.keep or tempfile.mkdtemp(prefix="pages-bench-"))
    settings = load_settings(environ={}, overrides={
        "data_dir": str(folder), "site_timezone": "Asia/Kolkata", "host": "127.0.0.1"})
    if args.keep and (folder / "appliance.db").exists():
        print("serving the kept data dir as it is (--chargers and --days not used)", flush=True)
        asyncio.run(measure(settings, args.rounds, pages, fresh=False, offline=offline))
        return
    try:
        database = open_database(settings)
        started = time.perf_counter()
        now = datetime.now(UTC).replace(tzinfo=None)
        counts = generate(database, args.chargers, args.days, now)
        if args.running or args.offline:
            counts.update(steady(database, args.running, args.offline, now))
        database.run_sync(create_staff, "bench", "admin", PASSWORD)
        database.db.close()
        print(f"generated {args.chargers} chargers x {args.days} days in "
              f"{time.perf_counter() - started:.1f} s: "
              + ", ".join(f"{n} {k}" for k, n in counts.items()), flush=True)
        asyncio.run(measure(settings, args.rounds, pages, fresh=True,
                            catch=not args.no_catch_up, offline=offline))
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
