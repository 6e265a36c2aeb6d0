#!/usr/bin/env python3
"""Drivers by phone number on a big site: creates N drivers, each with its own number, through
`accounts.create_driver` (what the API, the desk and sign-up call: it checks that no other
driver has the number), in transactions of 500 on a real SQLite file, then times a phone
look-up (`people.drivers.by_phone`, the forgotten-PIN and login path). Prints the time per
creation over each 500 and the look-up's, so a cost that grows with the drivers shows as a
rising column. `--root` measures another tree (e.g. the code before a change) the same way.

Run by hand; not part of the test suite:
  python bench/phones.py [--drivers 5000] [--root OTHER_TREE]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

CHUNK = 500


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drivers", type=int, default=5000)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the tree whose appliance runs (default: this one)")
    args = parser.parse_args()
    sys.path.insert(0, str(args.root))
    from appliance.app import open_database
    from appliance.billing import accounts
    from appliance.config import load_settings
    from appliance.people import drivers

    mine = args.root.resolve() == Path(__file__).resolve().parent.parent
    print(f"bench/phones.py: appliance from {'this tree' if mine else 'OTHER_TREE'}, "
          f"{args.drivers} drivers", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="phones-bench-"))
    try:
        database = open_database(load_settings(environ={}, overrides={"data_dir": str(folder)}))

        def chunk(first: int, count: int) -> None:
            for n in range(first, first + count):
                accounts.create_driver({"name": f"Driver {n}", "phone": f"+91 9{n:09d}"}, "INR")

        started = time.perf_counter()
        print(f"{'drivers':>8} {'ms per creation':>16}", flush=True)
        for first in range(0, args.drivers, CHUNK):
            count = min(CHUNK, args.drivers - first)
            t0 = time.perf_counter()
            database.run_sync(chunk, first, count)
            per = (time.perf_counter() - t0) * 1000 / count
            print(f"{first + count:8d} {per:16.2f}", flush=True)
        total = time.perf_counter() - started
        lookups = []
        for n in range(0, args.drivers, max(1, args.drivers // 20)):
            t0 = time.perf_counter()
            found = database.run_sync(drivers.by_phone, f"9{n:09d}")
            lookups.append((time.perf_counter() - t0) * 1000)
            assert found is not None, n
        print(f"all {args.drivers} created in {total:.1f} s; a look-up by phone: median "
              f"{statistics.median(lookups):.2f} ms (of {len(lookups)})", flush=True)
        database.db.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
