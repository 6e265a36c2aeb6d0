"""systemd integration without a dependency: READY=1 once the app has started, WATCHDOG=1 pings
while the event loop and the database writer answer, STOPPING=1 at shutdown. Outside systemd
(no NOTIFY_SOCKET) every call is a no-op."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

from aiohttp import web

from appliance import keys

log = logging.getLogger(__name__)


def notify(state: str) -> bool:
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(address)
            sock.sendall(state.encode())
        except OSError as err:
            log.warning("could not notify systemd (%s): %s", state, err)
            return False
    return True


def watchdog_interval() -> float | None:
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1_000_000 / 3  # a ping and a slow writer both fit in one interval


async def _watchdog(app: web.Application, every: float) -> None:
    while True:
        try:
            # Ping only while the writer thread answers: a stuck database is a stuck service.
            await asyncio.wait_for(app[keys.DATABASE].run(lambda: None), timeout=every)
            notify("WATCHDOG=1")
        except TimeoutError:
            log.error("the database writer did not answer in %.0f s; no watchdog ping", every)
        await asyncio.sleep(every)


def listening(app: web.Application) -> None:
    """Every port is bound and every cleanup context has started: READY=1 for systemd, then
    the watchdog pings (never before READY: systemd would take a ping for a start)."""
    notify("READY=1")
    if not os.environ.get("NOTIFY_SOCKET"):
        return
    every = watchdog_interval()
    if every:
        app[keys.WATCHDOG] = asyncio.create_task(_watchdog(app, every), name="watchdog")


async def stopping(app: web.Application) -> None:
    notify("STOPPING=1")
    task = app.get(keys.WATCHDOG)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
