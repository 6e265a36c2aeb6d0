#!/usr/bin/env python3
"""Page speed on a big site: a generated year of history for 100 chargers (bench/nightly.py's
generator), its nightly statistics computed, then the real app on 127.0.0.1 serves the pages a
manager opens every day to a logged-in staff member, and this prints p50/p95 render times.

Run by hand (see bench/README.md); it is not part of the test suite:
  python bench/pages.py [--chargers 100] [--days 365] [--rounds 20] [--keep DIR]
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

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance import keys  # noqa: E402
from appliance.app import create_app, open_database  # noqa: E402
from appliance.config import Settings, load_settings  # noqa: E402
from appliance.people.staff import create_staff  # noqa: E402
from appliance.reports.nightly import catch_up  # noqa: E402
from bench.nightly import generate  # noqa: E402

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


async def measure(settings: Settings, rounds: int) -> None:
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    started = time.perf_counter()
    # What a box does at its first start: the last month's nightly statistics (older days of a
    # range are computed from the raw history when a page asks for them).
    await catch_up(runner.app[keys.DATABASE], settings)
    print(f"nightly catch-up (31 days) in {time.perf_counter() - started:.1f} s", flush=True)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}"
    days90 = (datetime.now(UTC).date() - timedelta(days=89)).isoformat()
    try:
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as session:
            await login(session, base)
            print(f"{'page':28} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'KB':>6}")
            for label, path in PAGES.items():
                times, size = [], 0
                for _ in range(rounds):
                    started = time.perf_counter()
                    async with session.get(base + path.format(days90=days90)) as resp:
                        body = await resp.read()
                        assert resp.status == 200, f"{path}: {resp.status}"
                    times.append((time.perf_counter() - started) * 1000)
                    size = len(body)
                print(f"{label:28} {statistics.median(times):8.1f} {percentile(times, 0.95):8.1f} "
                      f"{max(times):8.1f} {size / 1024:6.0f}", flush=True)
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chargers", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--keep", help="data dir to keep (default: a temporary one)")
    args = parser.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp(prefix="pages-bench-"))
    settings = load_settings(environ={}, overrides={
        "data_dir": str(folder), "site_timezone": "Asia/Kolkata", "host": "127.0.0.1"})
    try:
        database = open_database(settings)
        started = time.perf_counter()
        counts = generate(database, args.chargers, args.days, datetime.now(UTC).replace(
            tzinfo=None))
        database.run_sync(create_staff, "bench", "admin", PASSWORD)
        database.db.close()
        print(f"generated {args.chargers} chargers x {args.days} days in "
              f"{time.perf_counter() - started:.1f} s: "
              + ", ".join(f"{n} {k}" for k, n in counts.items()), flush=True)
        asyncio.run(measure(settings, args.rounds))
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
