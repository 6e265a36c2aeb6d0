"""Server-Sent Events: the one loop shape of every live page. A stream's answer, its data and
keepalive lines, and a page that goes away ending the stream quietly (no error logged)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from appliance import events

KEEPALIVE_S = 15.0
HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
           "X-Accel-Buffering": "no"}


class Stream:
    def __init__(self, response: web.StreamResponse) -> None:
        self.response = response

    async def send(self, data: str) -> None:
        await self.response.write(f"data: {data}\n\n".encode())

    async def keepalive(self) -> None:
        await self.response.write(b": keepalive\n\n")


@contextlib.asynccontextmanager
async def stream(request: web.Request) -> AsyncIterator[Stream]:
    """Prepare the answer; a reset (the page went away) ends the block without an error."""
    response = web.StreamResponse(headers=HEADERS)
    await response.prepare(request)
    with contextlib.suppress(ConnectionResetError):
        yield Stream(response)


async def next_event(queue: asyncio.Queue[events.Event], within_s: float) -> events.Event | None:
    """The next event, or None when `within_s` seconds pass without one (time for a keepalive)."""
    try:
        return await asyncio.wait_for(queue.get(), within_s)
    except TimeoutError:
        return None
