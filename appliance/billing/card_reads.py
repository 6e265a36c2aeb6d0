"""What one money decision reads of a card: the card, its driver, the driver's account and the
site's two money settings (default overdraft, master pass group), in one statement where it
took five; and what one database call has read already, so a StartTransaction's decision and
its recording share their reads (the station, the card, the tariff) instead of reading them
twice. Nothing is kept past the call: every answer reads the rows as they are now."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from appliance.billing import ledger
from appliance.db import fastsql
from appliance.db.fastsql import col
from appliance.db.models import Account, Driver, IdTag, Station
from appliance.db.models_money import Tariff
from appliance.db.models_site import SiteSetting

MASTERPASS = "masterpass_group"  # the site setting
_TAG, _DRIVER, _ACCOUNT = (m._meta.sorted_fields for m in (IdTag, Driver, Account))


@dataclass
class Card:
    """A card that is not retired, with its driver and account (None for a card of nobody's)
    and the site settings a decision on it needs."""

    tag: IdTag
    driver: Driver | None
    account: Account | None
    site_overdraft: int
    masterpass: str


@dataclass
class Seen:
    """What a decision read in this database call, for the calls that follow it in the same
    call (the start's clock, the session's payer and tariff)."""

    card: Card | None = None
    station: Station | None = None
    tariffs: dict[tuple[int, Any, str], tuple[Tariff | None, str]] = field(
        default_factory=dict)


def _setting(name: str) -> str:
    st = fastsql.table(SiteSetting)
    return f'(SELECT s."value" FROM {st} s WHERE s."key" = \'{name}\')'


def _card_sql(p: str, in_list: str) -> str:
    t, d, a = IdTag, Driver, Account
    columns = [*(f"t.{col(f)}" for f in _TAG), *(f"d.{col(f)}" for f in _DRIVER),
               *(f"a.{col(f)}" for f in _ACCOUNT), _setting(ledger.SITE_OVERDRAFT),
               _setting(MASTERPASS)]
    return (f"SELECT {', '.join(columns)} FROM {fastsql.table(t)} t "
            f"LEFT JOIN {fastsql.table(d)} d ON d.{col(d.id)} = t.{col(t.driver)} "
            f"LEFT JOIN {fastsql.table(a)} a ON a.{col(a.driver)} = t.{col(t.driver)} "
            f"WHERE t.{col(t.key)} IN ({in_list}) AND t.{col(t.retired_at)} IS NULL")


def card(key: str) -> Card | None:
    """The card of this key (upper case), or None when there is none or it is retired."""
    width = len(_TAG) + len(_DRIVER) + len(_ACCOUNT) + 2
    rows = fastsql.query_in("card-reads:card", width, _card_sql, [key])
    if not rows:
        return None
    row = rows[0]
    cut1, cut2 = len(_TAG), len(_TAG) + len(_DRIVER)
    tag = fastsql.model_from_row(IdTag, _TAG, row[:cut1])
    driver = fastsql.model_from_row(Driver, _DRIVER, row[cut1:cut2]) \
        if tag.driver_id is not None and row[cut1] is not None else None
    account = fastsql.model_from_row(Account, _ACCOUNT, row[cut2:cut2 + len(_ACCOUNT)]) \
        if driver is not None and row[cut2] is not None else None
    masterpass = row[-1]
    return Card(tag, driver, account, ledger.site_overdraft(row[-2]),
                str(json.loads(masterpass) or "") if masterpass is not None else "")


def station(seen: Seen | None, station_id: int) -> Station:
    """The station row, read once per call."""
    if seen is not None and seen.station is not None and seen.station.id == station_id:
        return seen.station
    found = fastsql.get_by_id(Station, station_id)
    if seen is not None:
        seen.station = found
    return found
