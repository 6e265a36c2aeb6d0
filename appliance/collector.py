"""The garbage collector of the serving process, tuned for thousands of live connections.

Measured at 10,000 connected chargers (bench/README.md): CPython's full collections walked the
whole heap (a million and more objects: every connection's socket, tasks and buffers) and
stopped both threads for 580-690 ms each, several times a minute under load; they alone made
the steady site's p99 latency 506 ms. So the serving process freezes what exists once it has
started (imports, caches: never garbage), collects young objects less often, and leaves full
collections to a timer: every GC_FULL_EVERY_S, one pause, instead of whenever the allocation
counters say. Reference cycles still get freed, by the young collections or by the timer's.
Tests and command-line tools keep Python's defaults."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator

from aiohttp import web

from appliance import background

GC_THRESHOLDS = (10_000, 50, 1_000)  # young collections; gen2 practically only by the timer
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
