"""A report's tables as rows of plain values (for the pages, CSV downloads and mail
attachments), and formula-safe CSV: a spreadsheet never runs a cell of ours as a formula."""

from __future__ import annotations

import csv
import gettext
import io
from datetime import date
from decimal import Decimal
from typing import Any

from babel import Locale
from babel.dates import format_skeleton
from babel.numbers import get_currency_precision

from appliance import formats

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
Table = tuple[list[str], list[list[Any]]]


def major(amount: int, currency: str) -> str:
    """Minor units as a plain major-unit number (no symbol: spreadsheets sum it)."""
    return str(Decimal(amount).scaleb(-get_currency_precision(currency)))


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f}"


def _safe(value: Any) -> str:
    text = "" if value is None else str(value)
    # Negative numbers are ours and harmless; only text that starts like a formula is quoted.
    if text.startswith(FORMULA_START) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def csv_text(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_safe(h) for h in table[0]])
    writer.writerows([[_safe(v) for v in row] for row in table[1]])
    return out.getvalue()


def report_tables(report: dict[str, Any]) -> dict[str, Table]:
    """name -> (header, rows) for every table of a report."""
    cur = report["currency"]
    return {
        "chargers": (["charger", "hours_charging", "hours_available", "hours_faulted_or_offline",
                      "energy_kwh", f"fees_{cur}", "sessions", "drivers"],
                     [[c["station"], hours(c["charging_s"]), hours(c["available_s"]),
                       hours(c["faulted_s"]), f"{c['energy_wh'] / 1000:.3f}",
                       major(c["fees_minor"], cur), c["sessions"], c["drivers"]]
                      for c in report["chargers"]]),
        "drivers": (["driver_id", "name", "sessions", "energy_kwh", f"fees_{cur}",
                     f"topups_{cur}", f"refunds_{cur}", f"other_{cur}", f"opening_{cur}",
                     f"closing_{cur}"],
                    [[d["driver_id"], d["name"], d["sessions"], f"{d['energy_wh'] / 1000:.3f}",
                      *(major(d[k], cur) for k in ("fees_minor", "topups_minor", "refunds_minor",
                                                   "other_minor", "opening_minor",
                                                   "closing_minor"))]
                     for d in report["drivers"]]),
        "topups": (["method", "kind", "count", f"amount_{cur}"],
                   [[t["method"], t["kind"], t["count"], major(t["amount_minor"], cur)]
                    for t in report["topups"]]),
        "online": (["provider", "method", "kind", "count", f"amount_{cur}"],
                   [[t["provider"], t["method"], t["kind"], t["count"],
                     major(t["amount_minor"], cur)] for t in report.get("online", [])]),
        "anomalies": (["kind", "session_id", "charger", "detail"],
                      [[a["kind"], a["session_id"] or "", a["station"], a["detail"]]
                       for a in report["anomalies"]]),
    }


def summary_text(report: dict[str, Any], translations: gettext.NullTranslations | None = None,
                 locale: Locale | str = "en_IN") -> str:
    """The mail body, in the site's language and figures: the totals and what needs
    attention; the tables go as attachments (plain numbers, for spreadsheets)."""
    _ = (translations or gettext.NullTranslations()).gettext
    t, cur = report["totals"], report["currency"]
    day = format_skeleton("yMMMd", date.fromisoformat(str(report["day"])), locale=locale)

    def number(value: float, digits: int) -> str:
        return formats.fixed(round(value, digits), digits, Locale.parse(locale))

    def money(amount: int) -> str:
        return formats.money(amount, cur, locale)

    lines = [_("Report for %(day)s (%(timezone)s)") % {"day": day,
                                                       "timezone": report["timezone"]}, "",
             _("Chargers: %(n)s") % {"n": t["chargers"]},
             _("Hours charging: %(hours)s") % {"hours": number(t["charging_s"] / 3600, 2)},
             _("Energy: %(kwh)s kWh") % {"kwh": number(t["energy_wh"] / 1000, 3)},
             _("Fees: %(amount)s") % {"amount": money(t["fees_minor"])},
             _("Sessions: %(sessions)s, drivers: %(drivers)s") % {
                 "sessions": t["sessions"], "drivers": t["drivers"]},
             _("Top-ups: %(count)s, %(amount)s") % {"count": t["topups_count"],
                                                     "amount": money(t["topups_minor"])}, ""]
    if report["anomalies"]:
        lines.append(_("Needs attention (%(n)s):") % {"n": len(report["anomalies"])})
        lines.extend(f"- {a['kind']}: {a['station']} {a['session_id'] or ''} {a['detail']}"
                     for a in report["anomalies"][:50])
    else:
        lines.append(_("Nothing needs attention; the ledger agrees."))
    return "\n".join(lines) + "\n"


def mail_subject(day: str, translations: gettext.NullTranslations | None = None) -> str:
    _ = (translations or gettext.NullTranslations()).gettext
    return _("Charging report %(day)s") % {"day": day}
