#!/usr/bin/env python3
"""Where the memory of one connected charger goes: an appliance started by this script (as
bench/load.py starts it), N chargers that connect, boot, send two StatusNotifications and stay
connected, idle; then the server's RSS (from /proc) before and with them connected, and what a
connection holds, divided by N:

  - the Python objects it adds, by type (`gc.get_objects()` before and after, counted);
  - with --trace F, the allocations it adds by traceback (tracemalloc, F frames; tracemalloc
    itself doubles the process's memory, so RSS figures of such a run are not comparable).

The server runs through this file's `_serve` mode, which starts the appliance's `serve` command
with a thread that answers a probe request (a file in its data dir) with a JSON of the figures.
--targets appliance,before --before-root OLD_TREE measures both trees in the same run.
Run by hand (see bench/README.md); it is not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


# --- the server side: `python bench/memory.py _serve DATA_DIR TRACE_FRAMES -- serve args` ----
# (it imports the appliance of the tree on PYTHONPATH, this tree's or --before-root's)
def _rss_kb() -> int:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _probe(data_dir: Path, trace: bool) -> None:
    """Wait for `probe-<n>` files in the data dir; answer each with `probe-<n>.json`."""
    seen: set[str] = set()
    while True:
        time.sleep(0.2)
        for request in sorted(data_dir.glob("probe-*.req")):
            if request.name in seen:
                continue
            seen.add(request.name)
            out: dict[str, Any] = {"rss_kb": _rss_kb()}
            types = Counter(type(o).__qualname__ for o in gc.get_objects())
            out["objects"] = sum(types.values())
            out["types"] = dict(types)
            out["unreachable"] = gc.collect()  # cyclic garbage waiting for a collection
            out["rss_after_collect_kb"] = _rss_kb()
            with contextlib.suppress(OSError, AttributeError):  # glibc hands back free pages
                ctypes.CDLL("libc.so.6").malloc_trim(0)
                out["rss_after_trim_kb"] = _rss_kb()
            if trace:
                import tracemalloc

                path = request.with_suffix(".snapshot")
                tracemalloc.take_snapshot().dump(str(path))
                out["snapshot"] = str(path)
                out["traced_kb"] = tracemalloc.get_traced_memory()[0] / 1024
            request.with_suffix(".json").write_text(json.dumps(out))


def serve_main(argv: list[str]) -> int:
    data_dir, frames, rest = Path(argv[0]), int(argv[1]), argv[3:]
    if frames:
        import tracemalloc

        tracemalloc.start(frames)
    threading.Thread(target=_probe, args=(data_dir, bool(frames)), daemon=True).start()
    from appliance.cli import main

    return main(rest)


def seed_main(argv: list[str]) -> int:
    """`_seed DATA_DIR PREFIX N PASSWORD`: N stations written straight into the database (as
    POST /stations writes them, through the appliance's own `admin.create_station`), before
    the server starts: at 10,000 the API took many minutes (each password hashed on its own).
    They share one key hash, as they share the bench's password."""
    data_dir, prefix, n, password = Path(argv[0]), argv[1], int(argv[2]), argv[3]
    from appliance.charging import admin, stations
    from appliance.cli import _with_db
    from appliance.config import load_settings
    from appliance.db.models import Station

    key = stations.new_key_fields(password)

    def seed() -> None:
        with Station._meta.database.atomic():
            for i in range(n):
                admin.create_station(f"{prefix}-{i:05d}", {"managed": False})
            Station.update(**key).where(Station.cpid.startswith(prefix + "-")).execute()

    _with_db(load_settings(None, overrides={"data_dir": str(data_dir)}), seed)
    return 0


if __name__ == "__main__" and sys.argv[1:2] == ["_serve"]:
    sys.exit(serve_main(sys.argv[2:]))
if __name__ == "__main__" and sys.argv[1:2] == ["_seed"]:
    sys.exit(seed_main(sys.argv[2:]))
if str(ROOT) not in sys.path:  # `python bench/memory.py` from the work tree
    sys.path.insert(0, str(ROOT))

from bench import load  # noqa: E402


class Probed(load.Appliance):
    """An appliance started through `_serve`, from this tree or another one."""

    def __init__(self, python: str, root: Path, name: str, trace: int) -> None:
        super().__init__(python, keep=False, root=root)
        self.name, self.trace, self.probes = name, trace, 0

    def start(self, seed: tuple[str, int] | None = None) -> str:
        token = self.create_token()
        if seed is not None:  # (prefix, count): the stations, before the server starts
            subprocess.run([self.python, str(Path(__file__).resolve()), "_seed",
                            str(self.data_dir), seed[0], str(seed[1]), load.PASSWORD],
                           env=self.env, cwd=self.root, check=True)
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [self.python, str(Path(__file__).resolve()), "_serve", str(self.data_dir),
             str(self.trace), "--", "serve", "--data-dir", str(self.data_dir), "--host",
             "127.0.0.1", "--port", str(self.port), *self.extra],
            stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.root)
        deadline = time.monotonic() + 600  # tracemalloc slows the start many times over
        while True:
            try:
                self._wait_listening()
                return token
            except SystemExit:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise

    def probe(self) -> dict[str, Any]:
        self.probes += 1
        request = self.data_dir / f"probe-{self.probes}.req"
        request.write_text("")
        answer = request.with_suffix(".json")
        deadline = time.monotonic() + 600
        while not answer.exists() or not answer.stat().st_size:
            if time.monotonic() > deadline:
                raise SystemExit("the server did not answer the probe")
            time.sleep(0.2)
        time.sleep(0.1)
        result: dict[str, Any] = json.loads(answer.read_text())
        return result


# --- the chargers: k processes, each connecting and booting its slice, then idle ----------
async def _hold(ids: list[str], ws_base: str, share: float, ready: Any, release: Any,
                results: Any) -> None:
    import aiohttp

    stats = load.Stats()
    stats.record = False
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        chargers = [load.charger_kind(cpid, share)(cpid, ws_base, stats, 120.0) for cpid in ids]
        limit = asyncio.Semaphore(200)

        async def one(c: load.Charger) -> bool:
            async with limit:
                return await c.connect(session) and await c.boot()

        ok = sum(await asyncio.gather(*(one(c) for c in chargers)))
        results.put({"booted": ok, "errors": stats.errors})
        await loop.run_in_executor(None, ready.wait)
        await loop.run_in_executor(None, release.wait)
        await asyncio.gather(*(c.close() for c in chargers))


def hold_main(ids: list[str], ws_base: str, share: float, ready: Any, release: Any,
              results: Any) -> None:
    asyncio.run(_hold(ids, ws_base, share, ready, release, results))


def measure(target: Probed, ids: list[str], args: argparse.Namespace) -> dict[str, Any]:
    ws_base = target.url.replace("http://", "ws://") + "/ocpp"
    time.sleep(2.0)  # the start settles (gc.freeze, first timers)
    before = target.probe()
    ctx = mp.get_context("fork")
    k = max(1, min(args.processes, len(ids)))
    ready, release, results = ctx.Barrier(k + 1), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=hold_main, args=(ids[i::k], ws_base, args.v201_share, ready,
                                                 release, results), daemon=True)
             for i in range(k)]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    got = [results.get(timeout=600 + len(ids) / 5) for _ in procs]  # a busy machine
    ready.wait(timeout=60)
    booted = sum(r["booted"] for r in got)
    errors = Counter()  # type: Counter[str]
    for r in got:
        errors.update(r["errors"])
    setup_s = time.monotonic() - t0
    time.sleep(args.settle)  # after_connect's delayed work has run; idle sockets
    with_them = target.probe()
    release.set()
    for p in procs:
        p.join(timeout=60)
    n = max(1, booted)
    types_before, types_after = Counter(before["types"]), Counter(with_them["types"])
    per_type = {t: (types_after[t] - types_before[t]) / n for t in types_after
                if types_after[t] - types_before[t] >= n / 2}
    row = {"target": target.name, "chargers": len(ids), "booted": booted,
           "errors": dict(errors), "setup_s": setup_s,
           "rss_before_kb": before["rss_kb"], "rss_connected_kb": with_them["rss_kb"],
           "rss_per_charger_kb": with_them["rss_kb"] / n,
           "rss_delta_per_charger_kb": (with_them["rss_kb"] - before["rss_kb"]) / n,
           "rss_after_collect_kb": with_them["rss_after_collect_kb"],
           "rss_before_trimmed_kb": before.get("rss_after_trim_kb"),
           "rss_after_trim_kb": with_them.get("rss_after_trim_kb"),
           "unreachable": with_them["unreachable"],
           "objects_per_charger": (with_them["objects"] - before["objects"]) / n,
           "per_type": dict(sorted(per_type.items(), key=lambda kv: -kv[1])),
           "snapshots": (before.get("snapshot"), with_them.get("snapshot"))}
    return row


async def setup_stations(url: str, token: str, ids: list[str]) -> None:
    """The stations alone, as bench/load.py registers them (Basic auth, not managed)."""
    import aiohttp

    limit = asyncio.Semaphore(32)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        async def post(cpid: str) -> None:
            async with limit, session.post(url + "/api/v1/stations", json={
                    "id": cpid, "password": load.PASSWORD, "managed": False}) as resp:
                if resp.status not in (200, 201, 409):
                    raise SystemExit(f"POST /stations {cpid}: {resp.status}")

        await asyncio.gather(*(post(cpid) for cpid in ids))


def print_row(r: dict[str, Any], top: int) -> None:
    print(f"\n== {r['target']}: {r['booted']} of {r['chargers']} chargers connected and booted "
          f"in {r['setup_s']:.1f} s, errors {r['errors'] or 0}")
    print(f"   RSS {r['rss_before_kb'] / 1024:.1f} MB before, {r['rss_connected_kb'] / 1024:.1f} "
          f"MB connected: {r['rss_per_charger_kb']:.1f} KB/charger in all, "
          f"{r['rss_delta_per_charger_kb']:.1f} KB above the start; "
          f"{r['unreachable']} unreachable objects at the probe "
          f"(RSS after collecting them {r['rss_after_collect_kb'] / 1024:.1f} MB)")
    if r.get("rss_after_trim_kb"):
        print(f"   after malloc_trim(0) (glibc's free pages handed back): "
              f"{r['rss_before_trimmed_kb'] / 1024:.1f} MB before, "
              f"{r['rss_after_trim_kb'] / 1024:.1f} MB connected")
    print(f"   Python objects per connection: {r['objects_per_charger']:.1f}; by type:")
    print("     " + ", ".join(f"{t} {c:.1f}" for t, c in list(r["per_type"].items())[:40]))
    if r["snapshots"][0] and top:
        import tracemalloc

        old = tracemalloc.Snapshot.load(r["snapshots"][0])
        new = tracemalloc.Snapshot.load(r["snapshots"][1])
        n = max(1, r["booted"])
        total = sum(s.size_diff for s in new.compare_to(old, "filename"))
        print(f"   traced: {total / n / 1024:.2f} KB per connection; by line:")
        for s in new.compare_to(old, "lineno")[:top]:
            if s.size_diff / n < 16:
                break
            f = s.traceback[0]
            print(f"     {s.size_diff / n:8.0f} B {s.count_diff / n:6.2f} blocks  "
                  f"{_short(f.filename)}:{f.lineno}")
        print("   by traceback (the 12 largest):")
        for s in new.compare_to(old, "traceback")[:12]:
            print(f"     {s.size_diff / n:8.0f} B {s.count_diff / n:6.2f} blocks")
            for f in list(s.traceback)[-args_frames:]:
                print(f"         {_short(f.filename)}:{f.lineno}")


args_frames = 6


def _short(path: str) -> str:
    for marker in ("site-packages/", "/appliance/", "/lib/python3"):
        if marker in path:
            return path[path.index(marker) + (0 if marker == "/appliance/" else len(marker)):]
    return path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chargers", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--targets", default="appliance",
                        help="appliance (this tree), before (--before-root), comma-separated")
    parser.add_argument("--before-root", type=Path)
    parser.add_argument("--runs", type=int, default=1, help="runs, for a median and spread")
    parser.add_argument("--trace", type=int, default=0,
                        help="tracemalloc frames (0: off; RSS is then not comparable)")
    parser.add_argument("--top", type=int, default=40, help="lines of the traced diff")
    parser.add_argument("--settle", type=float, default=15.0,
                        help="seconds connected before the probe (after_connect waits 10)")
    parser.add_argument("--stations-only", action="store_true",
                        help="register the stations only, not bench/load.py's drivers, cards "
                             "and tariff (much quicker at 10,000; a smaller database)")
    parser.add_argument("--seed", action="store_true",
                        help="the stations alone, written into the database before the server "
                             "starts (as --stations-only, in seconds at 10,000)")
    parser.add_argument("--v201-share", type=float, default=0.0)
    parser.add_argument("--prefix", default="MEM")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    load.raise_nofile(args.chargers, args.processes)
    ids = [f"{args.prefix}-{i:05d}" for i in range(args.chargers)]
    rows: list[dict[str, Any]] = []
    for run in range(args.runs):
        for name in args.targets.split(","):
            root = args.before_root if name == "before" else ROOT
            if root is None:
                raise SystemExit("--targets before needs --before-root")
            target = Probed(sys.executable, root.resolve(), name, args.trace)
            try:
                token = target.start((args.prefix, len(ids)) if args.seed else None)
                if args.seed:
                    pass
                elif args.stations_only:
                    asyncio.run(setup_stations(target.url, token, ids))
                else:
                    asyncio.run(load.setup_site(target.url, token, ids,
                                                [t for c in ids for t in load.tags_of(c)]))
                row = measure(target, ids, args)
                row["run"] = run + 1
                rows.append(row)
                print_row(row, args.top)
            finally:
                target.stop()
    print(f"\nKB RSS per connected charger (all of the server's RSS / above the start), "
          f"{args.chargers} chargers, v201 share {args.v201_share:g}:")
    for name in args.targets.split(","):
        mine = [r for r in rows if r["target"] == name]
        for key in ("rss_per_charger_kb", "rss_delta_per_charger_kb"):
            vals = sorted(r[key] for r in mine)
            print(f"  {name:<10} {key:<26} median {statistics.median(vals):6.1f}  "
                  f"spread {vals[0]:.1f}-{vals[-1]:.1f}  ({len(vals)} runs)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
