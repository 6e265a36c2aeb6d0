"""CSV exports a spreadsheet can sum: amounts as numbers in major units beside a currency
column, times in the site's time zone with the offset in the header, and no cell of ours ever
run as a formula (only text cells are guarded; a number stays a number)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any

from aiohttp import web
from babel.numbers import get_currency_precision

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """A spreadsheet never runs a text cell from our exports as a formula; numbers (a negative
    amount included) are written as numbers."""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return value
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def major_number(amount: int | None, currency: str) -> Decimal | None:
    """Minor units as a major-unit number with the currency's decimals (1250 INR -> 12.50)."""
    if amount is None:
        return None
    digits = get_currency_precision(currency)
    return Decimal(amount).scaleb(-digits).quantize(Decimal(1).scaleb(-digits))


def utc_offset(tz: tzinfo, at: datetime | None = None) -> str:
    """"UTC+05:30" for the header of a time column."""
    offset = (at or datetime.now(UTC)).astimezone(tz).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def time_header(name: str, tz: tzinfo) -> str:
    return f"{name} ({tz}, {utc_offset(tz)})"


def local_cell(moment: datetime | None, tz: tzinfo) -> str:
    """A stored UTC time as the site's local time, as a spreadsheet reads it."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def csv_response(filename: str, header: list[str], rows: list[list[Any]]) -> web.Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([csv_safe(h) for h in header])
    writer.writerows([[csv_safe(v) for v in row] for row in rows])
    return web.Response(text=out.getvalue(), content_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})
