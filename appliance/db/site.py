"""Site settings: defaults seeded from the boot settings, stored per key in the database, edited
in the admin pages (audited there), validated here. Plain synchronous functions for the seam."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.numbers import get_currency_precision
from peewee import IntegrityError, fn

from appliance.db.models import Station, utcnow
from appliance.db.models_site import Site, SiteSetting
from appliance.errors import N_, Conflict, InvalidInput, NotFound, Text


def _s(default: Any, label: str) -> Any:
    return field(default=default, metadata={"label": label})


@dataclass(frozen=True)
class SiteSettings:
    site_name: str = _s("Charging site", N_("Site name (shown on every page and receipt)"))
    legal_name: str = _s("", N_("Legal name (receipts)"))
    tax_id: str = _s("", N_("Tax id (receipts)"))
    address: str = _s("", N_("Address (receipts)"))
    currency: str = _s("INR", N_("Currency (fixed once money exists)"))
    timezone: str = _s("UTC", N_("Time zone (days split at its midnight)"))
    locale: str = _s("en_IN", N_("Site language (staff and drivers may choose their own)"))
    unknown_station_policy: str = _s("pending", N_("Unknown chargers: pending, reject or accept"))
    overdraft_default_minor: int = _s(0, N_("Default overdraft (an amount, like 500.00)"))
    topup_max: int = _s(100_000, N_("Largest single top-up (whole currency units, like 100000)"))
    topup_confirm_above: int = _s(10_000, N_("Top-ups above this ask the clerk to confirm "
                                          "(whole currency units)"))
    stale_session_hours: int = _s(48, N_("Hours before a suspect session may be closed"))
    sample_retention_days: int = _s(90, N_("Days raw meter samples are kept"))
    nightly_time: str = _s("02:30", N_("Local time of the nightly job (HH:MM)"))
    backups_keep: int = _s(7, N_("Nightly backups kept"))
    self_registration: bool = _s(False, N_("Drivers may register themselves on the QR pages"))
    holidays: str = _s("", N_("Site holidays for tariff bands (dates like 2026-12-25, "
                                 "separated by commas)"))
    local_lists: bool = _s(True, N_("Chargers keep the site's personal cards, so they "
                                    "charge while the box is away"))
    offline_commercial: bool = _s(False, N_("Commercial cards may also start while the box is "
                                            "away (billed when it is back, debt if needed)"))
    masterpass_group: str = _s("", N_("Master pass group (OCPP 2.0.1 chargers): a card of "
                                      "this group (a driver's group tag or a card's parent "
                                      "tag) may stop any session, but start none"))
    base_url: str = _s("", N_("Address phones use to reach the box, printed on the QR stickers "
                           "(like http://192.168.1.20:8080)"))
    sticker_price: bool = _s(False, N_("Print a short price line on the QR stickers (each "
                                       "connector's tariff for everyone, as the QR page shows "
                                       "it)"))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


FIELDS = {f.name: f for f in dataclasses.fields(SiteSettings)}
# What each site owns (setting -> its column in `site`); every other setting is the
# installation's (one currency, one set of policies).
OWN = {"site_name": "name", "legal_name": "legal_name", "tax_id": "tax_id", "address": "address",
       "timezone": "timezone", "nightly_time": "nightly_time", "base_url": "base_url",
       "holidays": "holidays"}
DEFAULT_SITE = 1  # the box's own site, made by the upgrade


def defaults_from(boot: Any) -> SiteSettings:
    """The boot settings seed what a new site starts with."""
    return SiteSettings(currency=boot.currency, timezone=boot.site_timezone,
                        unknown_station_policy=boot.unknown_station_policy,
                        stale_session_hours=boot.stale_session_hours)


def load_site(defaults: SiteSettings, site_id: int = DEFAULT_SITE) -> SiteSettings:
    """The settings one site works with: the installation's, then what the site owns (an
    empty value of the site's takes the default)."""
    stored = {r.key: json.loads(r.value) for r in SiteSetting.select() if r.key in FIELDS}
    row = Site.get_or_none(Site.id == site_id)
    if row is not None:
        stored.update({k: getattr(row, c) for k, c in OWN.items() if getattr(row, c)})
    return dataclasses.replace(defaults, **stored)


def _check(name: str, value: Any) -> Any:
    kind = FIELDS[name].type
    try:
        if kind == "int":
            value = int(value)
            if value < 0:
                raise ValueError
        elif kind == "bool":
            value = value in (True, "on", "true", "1", 1)
        else:
            value = str(value).strip()
    except (TypeError, ValueError) as err:
        raise InvalidInput(N_("%(label)s: not a valid value"),
                           params={"label": Text(FIELDS[name].metadata["label"])},
                           details={"field": name}) from err
    problem = _problem(name, value)
    if problem:
        raise InvalidInput(N_("%(label)s: %(problem)s"), details={"field": name},
                           params={"label": Text(FIELDS[name].metadata["label"]),
                                   "problem": Text(problem)})
    return value


def _problem(name: str, value: Any) -> str | None:
    if name == "site_name" and not value:
        return N_("may not be empty")
    if name == "currency":
        if not re.fullmatch(r"[A-Z]{3}", value) or get_currency_precision(value) is None:
            return N_("an ISO 4217 code like INR")
    if name == "timezone":
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            return N_("an IANA time zone like Asia/Kolkata")
    if name == "locale":
        try:
            Locale.parse(value)
        except (UnknownLocaleError, ValueError):
            return N_("a locale like en_IN or gu_IN")
    if name == "unknown_station_policy" and value not in ("pending", "reject", "accept"):
        return N_("pending, reject or accept")
    if name == "base_url" and value:
        return base_url_problem(value)
    if name == "holidays" and value:
        return holidays_problem(value)
    if name == "nightly_time" and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        return N_("a time like 02:30")
    return None


def holiday_dates(text: str) -> list[str]:
    """The holidays setting as sorted ISO dates (what a tariff snapshot keeps)."""
    return sorted({date.fromisoformat(p.strip()).isoformat()
                   for p in text.replace(";", ",").replace("\n", ",").split(",") if p.strip()})


def holidays_problem(text: str) -> str | None:
    try:
        holiday_dates(text)
    except ValueError:
        return N_("dates like 2026-12-25, separated by commas")
    return None


def pin_pricing_values(site: SiteSettings) -> None:
    """Store the time zone when it is still the boot default: money (below the web room)
    prices time-of-day bands in it and reads it from the database."""
    (Site.update(timezone=site.timezone)
     .where((Site.id == DEFAULT_SITE) & (Site.timezone == "")).execute())


def site_pricing(site_id: int) -> tuple[str, str]:
    """(time zone, holidays) of a site, as its tariffs' snapshots keep them."""
    from appliance.db import fastsql

    row = fastsql.get(Site, Site.id, site_id)
    return (row.timezone or "UTC", row.holidays) if row is not None else ("UTC", "")


# --- the sites of the installation --------------------------------------------------------------
def list_sites() -> list[dict[str, Any]]:
    counts: dict[int, int] = dict(Station.select(Station.site_id, fn.COUNT(Station.id))
                  .where(Station.retired_at.is_null()).group_by(Station.site_id).tuples())
    return [{"id": s.id, "name": s.name, "legal_name": s.legal_name, "tax_id": s.tax_id,
             "timezone": s.timezone, "nightly_time": s.nightly_time, "base_url": s.base_url,
             "stations": counts.get(s.id, 0)} for s in Site.select().order_by(Site.id)]


def site_choices() -> list[tuple[int, str]]:
    """(id, name) of every site when there are several; none on a box (it shows no choice)."""
    rows = list(Site.select(Site.id, Site.name).order_by(Site.id).tuples())
    return rows if len(rows) > 1 else []


def site_ids() -> list[int]:
    return [s.id for s in Site.select(Site.id).order_by(Site.id)]


def get_site(site_id: int) -> Site:
    row = Site.get_or_none(Site.id == site_id)
    if row is None:
        raise NotFound(N_("There is no such site."), details={"site_id": site_id})
    return row


def create_site(defaults: SiteSettings, values: dict[str, Any]) -> dict[str, Any]:
    """A new site; the values it owns are checked as the settings page checks them."""
    checked = {k: _check(k, v) for k, v in values.items() if k in OWN}
    if not checked.get("site_name"):
        raise InvalidInput(N_("A site needs a name."), details={"field": "site_name"})
    columns = {OWN[k]: v for k, v in checked.items()}
    columns.setdefault("timezone", defaults.timezone)
    try:
        with Site._meta.database.atomic():
            row = Site.create(**columns)
    except IntegrityError as err:
        raise Conflict(N_("A site %(name)s exists."), params={"name": columns["name"]}) from err
    return {"id": row.id, **{k: getattr(row, c) for k, c in OWN.items()}}


def site_of_station(cpid: str) -> int | None:
    row = Station.get_or_none(Station.key == cpid.upper())
    return row.site_id if row is not None else None


def move_station(cpid: str, site_id: int) -> None:
    """Put a charger in a site (before approval, or when staff move it)."""
    get_site(site_id)
    if not Station.update(site_id=site_id).where(Station.key == cpid.upper()).execute():
        raise NotFound(N_("There is no charger %(cpid)s."), params={"cpid": cpid})


LOOPBACK_HOSTS = ("localhost", "0.0.0.0", "::", "::1")


def base_url_problem(url: str) -> str | None:
    """Why a phone on the site's Wi-Fi could not open this address, or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return N_("an address like http://192.168.1.20:8080")
    host = parts.hostname
    if host in LOOPBACK_HOSTS or host.startswith("127.") or host.endswith(".localhost"):
        return N_("this is the box itself (loopback): a phone cannot reach it; use the box's "
                  "address on the site's network")
    return None


def save_site(defaults: SiteSettings, changes: dict[str, Any], actor: str,
              site_id: int = DEFAULT_SITE) -> SiteSettings:
    """Validate and store changed values (what the site owns in its row, the rest for the
    installation); the currency is fixed once the ledger has a row."""
    from appliance.db.models_money import LedgerEntry

    current = load_site(defaults, site_id)
    checked = {k: _check(k, v) for k, v in changes.items() if k in FIELDS}
    if checked.get("currency", current.currency) != current.currency and \
            LedgerEntry.select().exists():
        raise InvalidInput(N_("The currency is fixed once money has been booked."),
                           details={"field": "currency"})
    own = {OWN[k]: v for k, v in checked.items() if k in OWN and v != getattr(current, k)}
    if own:
        try:
            with Site._meta.database.atomic():
                Site.update(**own).where(Site.id == site_id).execute()
        except IntegrityError as err:
            raise Conflict(N_("A site %(name)s exists."), params={"name": own["name"]}) from err
    for name, value in checked.items():
        if name not in OWN and value != getattr(current, name):
            store_value(name, value, actor)
    return load_site(defaults, site_id)


def store_value(key: str, value: Any, actor: str) -> None:
    """One stored value (JSON), as `site_value` and `stored_value` read it."""
    text = json.dumps(value)
    (SiteSetting.insert(key=key, value=text, updated_at=utcnow(), updated_by=actor)
     .on_conflict(conflict_target=[SiteSetting.key],
                  update={SiteSetting.value: text, SiteSetting.updated_at: utcnow(),
                          SiteSetting.updated_by: actor})
     .execute())


def stored_value(key: str) -> Any:
    """One stored value through the ORM (None when not stored): for rare reads."""
    row = SiteSetting.get_or_none(SiteSetting.key == key)
    return json.loads(row.value) if row is not None else None


def site_value(name: str, default: Any) -> Any:
    """One stored value (for code on the writer thread that needs just one: the overdraft
    default on every commercial Authorize and watchdog batch, so through cached SQL)."""
    from appliance.db import fastsql  # (its statements are built from these models)

    row = fastsql.get(SiteSetting, SiteSetting.key, name)
    return json.loads(row.value) if row is not None else default


def refresh_site(current: SiteSettings, saved: SiteSettings) -> None:
    """Make the running app's site settings the saved ones. A started aiohttp app refuses new
    values under its keys, so the one object every page reads is updated in place, here only."""
    for name in FIELDS:
        object.__setattr__(current, name, getattr(saved, name))
