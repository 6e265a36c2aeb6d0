"""The garbage collector of the serving process, tuned for thousands of live connections.

Measured at 10,000 connected chargers (bench/README.md): CPython's full collections walked the
whole heap (a million and more objects: every connection's socket, tasks and buffers) and
stopped both threads for 580-690 ms each, several times a minute under load; they alone made
the steady site's p99 latency 506 ms. So the serving process freezes what exists once it has
started (imports, caches: never garbage), collects young objects less often, and leaves full
collections to a timer: every GC_FULL_EVERY_S, one pause, instead of whenever the allocation
counters say. Reference cycles still get freed, by the young collections or by the timer's.
Tests and command-line tools keep Python's defaults.

The young generation's threshold is high (round six, bench/README.md): CPython counts
allocations minus deallocations, but a deallocation does not count while the counter is at zero,
right after a collection. A busy site's work comes in bursts (a writer batch of up to 500
reports: its messages' payloads, tasks and futures, some 30 tracked objects each, made together
and freed together when the batch commits), so with 10,000 every burst started a young
collection: 7-10 a second that walked the 10,000-30,000 objects of the messages in flight and
freed almost nothing (700 objects in 200 collections), 35-40 ms of CPU a second holding both
threads, three times that in wall time on a loaded machine. At 100,000 a burst no longer reaches
it (none in the same 20 s); a young collection, when one comes, walks some 100,000 objects
(20-40 ms here). What cycles are left wait at most that long: a few MB at most."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator

from aiohttp import web

from appliance import background

GC_THRESHOLDS = (100_000, 50, 1_000)  # young collections rare; gen2 practically only by the timer
GC_FULL_EVERY_S = 900.0


async def tuned(app: web.Application) -> AsyncIterator[None]:
    """A cleanup context, last of the app's: by then everything the process keeps exists."""
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)

    async def full_collections() -> None:
        while True:
            await asyncio.sleep(GC_FULL_EVERY_S)
            gc.collect()

    try:
        async with background.running(full_collections(), "full-gc"):
            yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
