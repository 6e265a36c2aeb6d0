"""The serving process's garbage-collector tuning (appliance.collector) is applied while the app
runs and undone when it stops."""

from __future__ import annotations

import gc
from typing import Any

from aiohttp import web

from appliance import collector


async def test_tuned_while_running_and_restored_after(aiohttp_server: Any) -> None:
    before = gc.get_threshold()
    app = web.Application()
    app.cleanup_ctx.append(collector.tuned)
    server = await aiohttp_server(app, host="127.0.0.1")
    try:
        assert gc.get_threshold() == collector.GC_THRESHOLDS
        assert gc.get_freeze_count() > 0  # what existed at start is out of every collection
    finally:
        await server.close()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
