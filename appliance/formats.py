"""Numbers, money, energy, dates and durations as a person reads them: Babel in their locale
(hi_IN: ₹1,00,000.00), times in the site's time zone. No figure on a page is formatted by hand.

Digits stay Latin in every locale: CLDR's default numbering system for gu and hi is `latn`,
and it is what people at an Indian charging site read on the charger's display, the meter, a
bill and a phone number; native digits would differ from the charger's own screen."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from babel import units as babel_units

DASH = "—"


def fixed(value: Decimal | int | float, digits: int, locale: Locale) -> str:
    """A decimal with exactly `digits` decimals, grouped as the locale groups (1,00,000.00)."""
    pattern = copy.copy(babel_numbers.parse_pattern(locale.decimal_formats[None].pattern))
    pattern.frac_prec = (digits, digits)
    return str(pattern.apply(Decimal(str(value)), locale, decimal_quantization=True))


def money(amount: int | None, currency: str, locale: Locale | str = "en_IN") -> str:
    """Integer minor units as the locale writes an amount of that currency."""
    if amount is None:
        return DASH
    digits = babel_numbers.get_currency_precision(currency)
    return babel_numbers.format_currency(Decimal(amount).scaleb(-digits), currency,
                                         locale=locale)


def unit_price(value: str | Decimal, currency: str, locale: Locale | str) -> str:
    """A unit price with up to 4 decimals (receipts and tariffs show what staff typed)."""
    locale = Locale.parse(locale)
    pattern = copy.copy(babel_numbers.parse_pattern(locale.currency_formats["standard"].pattern))
    pattern.frac_prec = (2, 4)
    return str(pattern.apply(Decimal(str(value)), locale, currency=currency,
                             currency_digits=False, decimal_quantization=True))


def major(amount: int, currency: str) -> str:
    """Minor units as a plain major-unit number for form fields ("500.00"): what a browser's
    number input takes, so never grouped or localised."""
    digits = babel_numbers.get_currency_precision(currency)
    return f"{Decimal(amount).scaleb(-digits):.{digits}f}"


def kwh(wh: int | float | None, locale: Locale | str = "en_IN") -> str:
    if wh is None:
        return DASH
    return fixed(Decimal(wh) / 1000, 2, Locale.parse(locale))


def kw(w: int | float | None, locale: Locale | str = "en_IN") -> str:
    if w is None:
        return DASH
    return fixed(Decimal(w) / 1000, 1, Locale.parse(locale))


def hours(seconds: float, locale: Locale | str = "en_IN") -> str:
    value = Decimal(seconds / 3600).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return fixed(value, 2, Locale.parse(locale))


def clock(seconds: int | float | None) -> str:
    """A running time as a stopwatch shows it (1:05:03, 4:07): the live page's clock, which
    its script keeps ticking in the same form."""
    if seconds is None:
        return DASH
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def duration(seconds: int | float | None, locale: Locale | str = "en_IN") -> str:
    """A length of time in words of the locale: "1 hr 5 min", "1 કલાક 5 મિનિટ"."""
    if seconds is None:
        return DASH
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    parts = [("duration-hour", h), ("duration-minute", m)] if h else \
        [("duration-minute", m), ("duration-second", s)] if m else [("duration-second", s)]
    return " ".join(babel_units.format_unit(n, unit, length="short", locale=locale)
                    for unit, n in parts if n or len(parts) == 1)


# The few shapes of time the pages use, by name; old strftime patterns map onto them.
STYLES = {"%Y-%m-%d %H:%M": "datetime", "%Y-%m-%d %H:%M:%S": "seconds", "%Y-%m-%d": "date",
          "%H:%M": "time"}


def when(moment: datetime | None, tz: ZoneInfo, locale: Locale | str = "en_IN",
         style: str = "datetime") -> str:
    """A stored UTC moment in the site's time zone, as the locale writes it."""
    if moment is None:
        return DASH
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    style = STYLES.get(style, style)
    local = moment.astimezone(tz)
    # Babel takes ~60 us a moment; a page of chargers shows hundreds of them, mostly the same
    # ones again at each live refresh: the texts of a local day and a local wall time are kept.
    date = _date_text(local.date(), locale)
    if style == "date":
        return date
    seconds = style == "seconds"
    wall = local.time().replace(microsecond=0, second=local.second if seconds else 0)
    time = _time_text(wall, "medium" if seconds else "short", locale)
    return time if style == "time" else f"{date}, {time}"


@lru_cache(maxsize=512)
def _date_text(day: date, locale: Locale | str) -> str:
    return str(babel_dates.format_skeleton("yMMMd", day, locale=locale))


@lru_cache(maxsize=8192)
def _time_text(wall: time, form: str, locale: Locale | str) -> str:
    return str(babel_dates.format_time(wall, form, locale=locale))


def day(value: date | str, locale: Locale | str = "en_IN") -> str:
    """A local calendar day (a report's date, given as a date or "2026-12-05") as the locale
    writes it: "5 Dec 2026", "5 ડિસે, 2026"."""
    if isinstance(value, str):
        value = date.fromisoformat(value)
    return str(babel_dates.format_skeleton("yMMMd", value, locale=locale))


def short_day(value: object, locale: Locale | str = "en_IN") -> str:
    """A day in a chart's axis: "5 Dec", "5 ડિસે"."""
    return babel_dates.format_skeleton("MMMd", value, locale=locale)  # type: ignore[arg-type]


def percent(rate: str | float | Decimal, locale: Locale | str = "en_IN") -> str:
    """A rate (0.18) as the locale writes a percentage: "18%", up to two decimals."""
    return str(babel_numbers.format_percent(Decimal(str(rate)), format="#,##0.##%",
                                            locale=locale))


def number(value: int | float | Decimal | None, locale: Locale | str = "en_IN") -> str:
    if value is None:
        return DASH
    return babel_numbers.format_decimal(value, locale=locale)


@dataclass(frozen=True)
class Formats:
    """One person's formatting: their locale, the site's currency and time zone. Templates get
    its methods as `money`, `kwh`, `when` and so on."""

    locale: Locale
    currency: str
    tz: ZoneInfo

    def money(self, amount: int | None, currency: str | None = None) -> str:
        return money(amount, currency or self.currency, self.locale)

    def unit_price(self, value: str | Decimal, currency: str | None = None) -> str:
        return unit_price(value, currency or self.currency, self.locale)

    def major(self, amount: int) -> str:
        return major(amount, self.currency)

    def kwh(self, wh: int | float | None) -> str:
        return kwh(wh, self.locale)

    def kw(self, w: int | float | None) -> str:
        return kw(w, self.locale)

    def hours(self, seconds: float) -> str:
        return hours(seconds, self.locale)

    def duration(self, seconds: int | float | None) -> str:
        return duration(seconds, self.locale)

    def when(self, moment: datetime | None, style: str = "datetime") -> str:
        return when(moment, self.tz, self.locale, style)

    def day(self, value: date | str) -> str:
        return day(value, self.locale)

    def short_day(self, value: object) -> str:
        return short_day(value, self.locale)

    def number(self, value: int | float | Decimal | None) -> str:
        return number(value, self.locale)

    def percent(self, rate: str | float | Decimal) -> str:
        return percent(rate, self.locale)

    def context(self) -> dict[str, object]:
        """What a template calls these by."""
        return {"money": self.money, "unit_price": self.unit_price, "major": self.major,
                "kwh": self.kwh, "kw": self.kw, "hours": self.hours, "duration": self.duration,
                "clock": clock, "when": self.when, "day": self.day, "local_day": self.day,
                "short_day": self.short_day,
                "number": self.number, "percent": self.percent,
                "locale": self.locale}
