"""bench/load.py --gc-probe: put on the served appliance's PYTHONPATH, this times every
collection of CPython's cycle collector by generation (gc.callbacks) and writes the running
totals, with the generations' sizes, to $APPLIANCE_GC_PROBE once a second, for the bench to read
before and after a scenario. It changes nothing else; without the variable it does nothing."""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time

_PATH = os.environ.get("APPLIANCE_GC_PROBE")


def _install(path: str) -> None:
    stats = {"n": [0, 0, 0], "s": [0.0, 0.0, 0.0], "max_s": [0.0, 0.0, 0.0],
             "cpu_s": [0.0, 0.0, 0.0],
             "collected": [0, 0, 0], "sizes": [0, 0, 0], "max_sizes": [0, 0, 0], "frozen": 0}
    began = [0.0, 0.0]
    clock, cpu = time.perf_counter, time.thread_time

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0], began[1] = clock(), cpu()
            return
        took = clock() - began[0]
        g = info["generation"]
        stats["cpu_s"][g] += cpu() - began[1]
        stats["n"][g] += 1
        stats["s"][g] += took
        stats["collected"][g] += info["collected"]
        if took > stats["max_s"][g]:
            stats["max_s"][g] = took

    gc.callbacks.append(callback)

    def report() -> None:
        tick = 0
        while True:
            time.sleep(1.0)
            tick += 1
            if tick % 5 == 0:  # the generations' sizes now and then (a list of each)
                sizes = [len(gc.get_objects(g)) for g in range(3)]
                stats["sizes"] = sizes
                most = stats["max_sizes"]
                stats["max_sizes"] = [max(a, b) for a, b in zip(most, sizes, strict=True)]
                stats["frozen"] = gc.get_freeze_count()
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                json.dump({**stats, "at": time.time(), "threshold": gc.get_threshold()}, f)
            os.replace(tmp, path)

    threading.Thread(target=report, name="gc-probe", daemon=True).start()


if _PATH and "serve" in sys.argv:
    _install(_PATH)
