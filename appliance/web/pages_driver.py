"""Drivers' QR pages (issue 6), registered as one page module: importing the parts adds their
routes to the one shared route table. `start_sweeper` is the cleanup context that gives back the
holds of starts no charger took up in time (the pages also do it lazily, but a driver who walks
away leaves no page open)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from appliance import background, keys
from appliance.billing import qr
from appliance.db.models import utcnow
from appliance.errors import ApplianceError
from appliance.web import (  # noqa: F401  (imported for their routes)
    pages_driver_auth,
    pages_driver_me,
    pages_driver_qr,
    pages_driver_start,
)
from appliance.web.pages_driver_common import routes

__all__ = ["routes", "start_sweeper"]
log = logging.getLogger(__name__)
SWEEP_INTERVAL_S = 5.0


async def _sweep_forever(app: web.Application) -> None:
    while True:
        await asyncio.sleep(SWEEP_INTERVAL_S)
        try:
            expired = await app[keys.DATABASE].run(qr.expire_overdue, utcnow())
        except ApplianceError as err:
            log.warning("QR start sweep failed: %s", err.message)
            continue
        if expired:
            log.info("QR starts %s expired: holds released", expired)


async def start_sweeper(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context (after the database): owns and cancels the sweep task."""
    async with background.running(_sweep_forever(app), "qr-start-sweeper"):
        yield
