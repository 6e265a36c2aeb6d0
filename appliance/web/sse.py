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
    def __init__(self, response: web.StreamResponse, gone: bool = False) -> None:
        self.response = response
        self.gone = gone  # the page went away before the answer could start

    async def send(self, data: str) -> None:
        await self._write(f"data: {data}\n\n".encode())

    async def send_many(self, data: list[str]) -> None:
        """Several events in one write (what waited in a page's queue)."""
        await self._write("".join(f"data: {d}\n\n" for d in data).encode())

    async def keepalive(self) -> None:
        await self._write(b": keepalive\n\n")

    async def _write(self, data: bytes) -> None:
        if self.gone:
            raise ConnectionResetError("the page went away")
        await self.response.write(data)


@contextlib.asynccontextmanager
async def stream(request: web.Request) -> AsyncIterator[Stream]:
    """Prepare the answer; a reset (the page went away, even while the answer starts) ends the
    block without an error: the stream's first write then ends it."""
    response = web.StreamResponse(headers=HEADERS)
    gone = False
    try:
        await response.prepare(request)
    except ConnectionResetError:
        gone = True
    with contextlib.suppress(ConnectionResetError):
        yield Stream(response, gone)


async def next_event(queue: asyncio.Queue[events.Event], within_s: float) -> events.Event | None:
    """The next event, or None when `within_s` seconds pass without one (time for a keepalive)."""
    try:
        return await asyncio.wait_for(queue.get(), within_s)
    except TimeoutError:
        return None
