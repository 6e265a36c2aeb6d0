"""CSV exports: a spreadsheet never runs a cell of ours as a formula."""

from __future__ import annotations

import csv
import io
from typing import Any

from aiohttp import web

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> str:
    """A spreadsheet never runs a cell from our exports as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_response(filename: str, header: list[str], rows: list[list[Any]]) -> web.Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([[csv_safe(v) for v in row] for row in rows])
    return web.Response(text=out.getvalue(), content_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})
