#!/usr/bin/env python3
"""What an open staff page's live stream costs the server on a busy site (issue 24, round
fifteen): bench/load.py runs the steady site; once its clock starts the server's CPU is taken
from /proc for `--window` seconds with no stream open, then for as long again with `--streams`
staff streams (`/events`, logged in as the bench's admin) reading everything the site sends.
Both windows are in the same run, on the same server; the difference is the streams' cost.
Several runs, each tree in turn (`--roots`), alternate which tree goes first.

    python bench/streams.py [--roots TREE[,TREE]] [--runs 4] [--chargers 2500 --interval 2.5]

The default site is the 10,000-charger steady site's message rate (2,500 chargers reporting
four times as often), which sets up in a minute instead of five. Run by hand; Linux only
(/proc); not part of the test suite."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
ADMIN_PASSWORD = "bench-admin-password"  # bench/load.py starts the appliance with it
CLOCK = re.compile(r"server appliance: pid (\d+), (http://[\d.:]+)")


def cpu_seconds(pid: int) -> float:
    """User and system CPU of every thread of the process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def cpu_share(pid: int, seconds: float) -> float:
    """The process's CPU over the next `seconds`, in % of one core."""
    start, t = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    return 100.0 * (cpu_seconds(pid) - start) / (time.monotonic() - t)


async def staff_stream(url: str, counted: list[int]) -> None:
    """Log in as the bench's admin and read /events until cancelled; counts events, bytes."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(url + "/login") as resp:
            await resp.read()
        csrf = next(c.value for c in session.cookie_jar if c.key == "appliance_csrf")
        async with session.post(url + "/login", allow_redirects=False, data={
                "username": "admin", "password": ADMIN_PASSWORD, "csrf_token": csrf,
                "next": "/"}) as resp:
            if resp.status != 303:
                raise SystemExit(f"streams: staff login answered {resp.status}")
        async with session.get(url + "/events",
                               timeout=aiohttp.ClientTimeout(total=None)) as resp:
            async for chunk in resp.content.iter_any():
                counted[0] += chunk.count(b"data:")
                counted[1] += len(chunk)


async def one_run(root: Path, args: argparse.Namespace) -> dict[str, float]:
    steady_s = 2 * args.window + args.settle + 15
    load = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "load.py"), "--root", str(root), "--timeout", "60",
        "--chargers", str(args.chargers), "--interval", str(args.interval),
        "--scenario", "steady", "--targets", "appliance", "--steady-duration", str(steady_s),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert load.stdout is not None
    pid, url = 0, ""
    while True:
        line = (await load.stdout.readline()).decode()
        if not line:
            raise SystemExit("streams: bench/load.py ended before its clock started")
        found = CLOCK.search(line)
        if found:
            pid, url = int(found[1]), found[2]
        if "steady: the clock starts" in line:
            break
    drained = asyncio.create_task(load.stdout.read())
    await asyncio.sleep(args.settle)
    without = await cpu_share(pid, args.window)
    counted = [0, 0]
    readers = [asyncio.create_task(staff_stream(url, counted)) for _ in range(args.streams)]
    await asyncio.sleep(3)  # logged in and subscribed
    events_before = counted[0]
    t = time.monotonic()
    with_streams = await cpu_share(pid, args.window)
    rate = (counted[0] - events_before) / (time.monotonic() - t)
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    output = (await drained).decode()
    await load.wait()
    errors = re.search(r"(\d+) CALLERRORs in all scenarios, (\d+) ERROR lines", output)
    return {"without": without, "with": with_streams, "events_per_s": rate,
            "errors": float(sum(map(int, errors.groups()))) if errors else -1.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--roots", default=str(HERE.parent),
                        help="work trees to measure, comma-separated (default: this one)")
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--chargers", type=int, default=2500)
    parser.add_argument("--interval", type=float, default=2.5,
                        help="seconds between a charger's MeterValues (bench/load.py's)")
    parser.add_argument("--streams", type=int, default=1, help="staff streams opened")
    parser.add_argument("--window", type=float, default=20.0, help="seconds of each figure")
    parser.add_argument("--settle", type=float, default=12.0,
                        help="seconds of the steady site before the first window")
    args = parser.parse_args()
    roots = [Path(r).resolve() for r in args.roots.split(",")]
    print(f"streams: {args.chargers} chargers every {args.interval} s, {args.streams} staff "
          f"stream(s), {args.window:.0f} s windows; load average {os.getloadavg()[0]:.2f}",
          flush=True)
    costs: dict[Path, list[float]] = {r: [] for r in roots}
    for run in range(args.runs):
        order = roots if run % 2 == 0 else roots[::-1]
        for root in order:
            got = asyncio.run(one_run(root, args))
            costs[root].append(got["with"] - got["without"])
            print(f"run {run + 1} {root}: server {got['without']:.1f}% of a core without, "
                  f"{got['with']:.1f}% with ({got['with'] - got['without']:+.1f}); "
                  f"{got['events_per_s']:.0f} events/s on each stream; "
                  f"{got['errors']:.0f} errors", flush=True)
    for root, values in costs.items():
        v = sorted(values)
        print(f"{root}: the streams cost {statistics.median(v):.1f} points of a core "
              f"(median of {len(v)}; {v[0]:.1f} to {v[-1]:.1f})")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
