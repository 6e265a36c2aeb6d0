"""Report pages, CSV and API in the real app, and mail through a tiny SMTP server on 127.0.0.1:
a report that could not be mailed says so on its page and goes out on the next try."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from babel.dates import format_skeleton

from appliance import keys
from appliance.config import Settings
from appliance.reports.nightly import retry_mail, run_day
from tests.conftest import Api
from tests.staff_client import staff_client
from tests.test_reports_daily import (
    seed_driver,
    seed_ledger,
    seed_session,
    seed_station,
    seed_status,
)


@dataclass
class TinySmtp:
    """Just enough ESMTP for smtplib: EHLO, MAIL, RCPT, DATA, QUIT. `refuse` answers RCPT 550."""

    refuse: bool = False
    messages: list[str] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 tiny ESMTP\r\n")
        try:
            while line := await reader.readline():
                verb = line[:4].upper()
                if verb == b"EHLO":
                    writer.write(b"250-tiny\r\n250 8BITMIME\r\n")
                elif verb == b"RCPT" and self.refuse:
                    writer.write(b"550 no such mailbox\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 go on\r\n")
                    body = []
                    while (chunk := await reader.readline()) not in (b".\r\n", b""):
                        body.append(chunk.decode())
                    self.messages.append("".join(body))
                    writer.write(b"250 queued\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    break
                else:
                    writer.write(b"250 ok\r\n")
                await writer.drain()
        finally:
            writer.close()


@pytest.fixture
async def smtp() -> AsyncIterator[TinySmtp]:
    tiny = TinySmtp()
    server = await asyncio.start_server(tiny.handle, "127.0.0.1", 0)
    tiny.port = server.sockets[0].getsockname()[1]
    async with server:
        yield tiny


@dataclass(frozen=True)
class WithMail:
    """The boot settings plus the SMTP fields (config.py gains them in its own change)."""

    base: Settings
    smtp_host: str
    smtp_port: int
    report_recipients: str
    smtp_from: str = "box@site.test"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)


async def seed_day(server: TestServer) -> str:
    now = datetime.now(UTC).replace(tzinfo=None)
    # Yesterday at 10:00 on the site's clock: "26 hours ago" crossed midnight when the test ran
    # between 01:00 and 02:00, and the charge then fell on the next day's report.
    tz = server.app[keys.SETTINGS].tz
    start = (datetime.now(tz) - timedelta(days=1)).replace(
        hour=10, minute=0, second=0, microsecond=0).astimezone(UTC).replace(tzinfo=None)

    def seed() -> None:
        st = seed_station("=CMD-1", now - timedelta(days=3), connectors=(1,))
        driver, account = seed_driver("=HYPERLINK(x)", "INR")
        seed_ledger(account, 50000, "topup", "topup:w", start, method="cash")
        seed_status(st, 1, start, "Charging")
        seed_status(st, 1, start + timedelta(hours=1), "Available")
        sid = seed_session(st, 1, start, start + timedelta(hours=1), 7000, driver, account,
                           flags="clock_off")
        seed_ledger(account, -3500, "charge", f"charge:{sid}", start + timedelta(hours=1), sid)

    await server.app[keys.DATABASE].run(seed)
    return start.replace(tzinfo=UTC).astimezone(server.app[keys.SETTINGS].tz).date().isoformat()


async def test_report_pages_csv_and_api(server: TestServer, api: Api) -> None:
    day = await seed_day(server)
    database, settings = server.app[keys.DATABASE], server.app[keys.SETTINGS]
    await run_day(database, settings, datetime.fromisoformat(day).date(), mail=False)
    async with staff_client(server) as staff:
        status, html = await staff.get("/reports")
        assert status == 200 and f'href="/reports/{day}"' in html
        status, html = await staff.get(f"/reports/{day}")
        assert status == 200 and "<svg" in html and "/reports/print.css" in html
        assert "=HYPERLINK(x)" in html and "clock_off" in html
        status, body = await staff.get(f"/reports/{day}/drivers.csv")
        rows = list(csv.reader(io.StringIO(body)))
        assert rows[1][1] == "'=HYPERLINK(x)" and rows[1][4] == "35.00"  # formula-safe
        _, body = await staff.get(f"/reports/{day}/chargers.csv")
        charger = list(csv.reader(io.StringIO(body)))[1]
        assert [charger[i] for i in (0, 1, 3, 4)] == ["'=CMD-1", "1.00", "0.00", "7.000"]
        status, html = await staff.get(f"/reports/summary?period=week&date={day}")
        assert status == 200 and "=CMD-1" in html
        assert (await staff.get(f"/reports/summary?period=month&date={day}"))[0] == 200
        assert (await staff.get("/reports/print.css"))[0] == 200
    listing = await api.get("/reports")
    assert listing["items"][0]["day"] == day and listing["items"][0]["ledger_ok"]
    report = await api.get(f"/reports/{day}")
    assert report["totals"]["fees"] == {"amount": 3500, "currency": "INR"}
    assert report["chargers"][0]["energy_wh"] == 7000
    daily = await api.get(f"/stations/=CMD-1/daily?from={day}&to={day}")
    assert daily["items"][0]["charging_s"] == 3600
    assert daily["items"][0]["connectors"][0]["fees"]["amount"] == 3500
    status, _ = await api.request("GET", "/reports/2001-01-01")
    assert status == 404
    paths = (await api.get("/openapi.json"))["paths"]
    assert {"/api/v1/reports", "/api/v1/reports/{date}",
            "/api/v1/stations/{id}/daily"} <= set(paths)


async def test_mail_failure_is_shown_then_retried(server: TestServer, smtp: TinySmtp) -> None:
    day = await seed_day(server)
    database = server.app[keys.DATABASE]
    mailing = WithMail(server.app[keys.SETTINGS], "127.0.0.1", smtp.port,
                       "manager@site.test, owner@site.test")
    smtp.refuse = True
    outcome = await run_day(database, mailing, datetime.fromisoformat(day).date())
    assert "550" in outcome.mail_error and smtp.messages == []
    async with staff_client(server) as staff:
        _, html = await staff.get(f"/reports/{day}")
        assert 'id="mail-error"' in html and "no such mailbox" in html
        assert "not sent" in (await staff.get("/reports"))[1]
    smtp.refuse = False
    assert await retry_mail(database, mailing) == 1
    assert len(smtp.messages) == 1 and "chargers-" in smtp.messages[0]
    # The site's language (en_IN by default) and its way of writing a date.
    written = format_skeleton("yMMMd", datetime.fromisoformat(day).date(), locale="en_IN")
    assert f"Report for {written}" in smtp.messages[0] and f"Charging report {day}" in \
        smtp.messages[0]
    async with staff_client(server, username="second") as staff:
        _, html = await staff.get(f"/reports/{day}")
        assert 'id="mail-error"' not in html and "Mailed at" in html


async def test_no_mail_when_not_configured(server: TestServer, smtp: TinySmtp) -> None:
    day = await seed_day(server)
    unconfigured = WithMail(server.app[keys.SETTINGS], "", smtp.port, "")
    outcome = await run_day(server.app[keys.DATABASE], unconfigured,
                            datetime.fromisoformat(day).date())
    assert outcome.mail_error == "" and smtp.messages == []
