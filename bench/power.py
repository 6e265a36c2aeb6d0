#!/usr/bin/env python3
"""Load management benchmark (issue 23): what one recomputation costs for many chargers behind
one limit. A site of N chargers (default 500, one session each, a mix of three-phase and
single-phase cars, some commercial) under one limit; then a stream of events like a busy
site's (meter changes mostly, starts and stops), each followed by the loop's work for it: the
allocation (`power.allocate.allocate`) and the profiles to send (`power.loop.changes`).
Printed: time per event (median and p95 within a run; the median of the runs' medians with
their spread) and how many profiles an event makes the box send.

Run by hand (see bench/README.md); it is not part of the test suite:
  python bench/power.py [--chargers 500] [--events 2000] [--runs 5] [--limit-a 2000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.power.allocate import PHASES, Demand, Limits, allocate  # noqa: E402
from appliance.power.loop import changes  # noqa: E402


def site(n: int, rng: random.Random) -> list[Demand]:
    return [Demand(f"CP{i:04d}/1", i, max_a=rng.choice([16.0, 32.0]),
                   phases=rng.choice([PHASES, PHASES, PHASES, (0,), (1,), (2,)]),
                   commercial=rng.random() < 0.3) for i in range(n)]


def run(chargers: int, events: int, limit_a: float, seed: int) -> tuple[list[float], list[int]]:
    rng = random.Random(seed)
    limits = Limits(limit_a, min_a=6.0, commercial_first=True)
    demands = {d.key: d for d in site(chargers, rng)}
    parked: list[Demand] = []
    sent: dict[str, float] = dict(allocate(limits, list(demands.values())))
    times: list[float] = []
    sends: list[int] = []
    order = chargers
    for _ in range(events):
        roll = rng.random()
        if roll < 0.1 and demands:  # a stop
            key = rng.choice(list(demands))
            parked.append(demands.pop(key))
            sent.pop(key, None)
        elif roll < 0.2 and parked:  # a start on a free charger
            order += 1
            d = replace(parked.pop(rng.randrange(len(parked))), order=order, drawn_a=None)
            demands[d.key] = d
        elif demands:  # a meaningful meter change
            key = rng.choice(list(demands))
            demands[key] = replace(demands[key], drawn_a=rng.uniform(0, 34))
        started = time.perf_counter()
        allowed = allocate(limits, list(demands.values()))
        down, up = changes(sent, allowed, set())
        times.append(time.perf_counter() - started)
        for key, amps in down + up:
            sent[key] = amps
        sends.append(len(down) + len(up))
    return times, sends


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chargers", type=int, default=500)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--limit-a", type=float, default=2000.0,
                        help="the site's limit in A per phase (2000: about 1.4 MW)")
    args = parser.parse_args()
    medians, p95s, all_sends = [], [], []
    for r in range(max(3, args.runs)):
        times, sends = run(args.chargers, args.events, args.limit_a, seed=r)
        ms = sorted(t * 1000 for t in times)
        medians.append(statistics.median(ms))
        p95s.append(ms[int(len(ms) * 0.95)])
        all_sends += sends
        print(f"run {r + 1}: median {medians[-1]:.2f} ms, p95 {p95s[-1]:.2f} ms per event")
    print(f"{args.chargers} chargers behind one {args.limit_a:.0f} A limit, {args.events} events "
          f"a run, {len(medians)} runs")
    print(f"time per event: median {statistics.median(medians):.2f} ms "
          f"(runs {min(medians):.2f}-{max(medians):.2f}); p95 {statistics.median(p95s):.2f} ms "
          f"(runs {min(p95s):.2f}-{max(p95s):.2f})")
    s = sorted(all_sends)
    print(f"profiles to send per event: median {statistics.median(s):.0f}, "
          f"p95 {s[int(len(s) * 0.95)]}, max {s[-1]}")


if __name__ == "__main__":
    main()
