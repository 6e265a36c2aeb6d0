"""A box whose clock runs behind its newest record shows a banner to staff."""

from __future__ import annotations

from datetime import timedelta

from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.app import check_clock
from appliance.db.models import utcnow
from appliance.db.models_people import AuditLog
from tests.staff_client import staff_client


def _future_record() -> None:
    AuditLog.create(actor="test", action="clock", at=utcnow() + timedelta(days=400))


async def test_banner_when_the_clock_is_behind(server: TestServer) -> None:
    async with staff_client(server) as staff:
        await check_clock(server.app)
        assert 'id="clock-banner"' not in (await staff.get("/"))[1]
        await server.app[keys.DATABASE].run(_future_record)
        await check_clock(server.app)
        assert 'id="clock-banner"' in (await staff.get("/"))[1]
