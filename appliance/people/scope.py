"""Which sites a staff login or an API token works at: none named means the whole
installation (every login of a box); a login with sites named (the `staff_site` rows) is the
manager (admin role) or the desk of those sites only. The web core turns this into the one
check every page and API call goes through (web.scope)."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.db.models import ChargingSession, Station
from appliance.db.models_money import Tariff
from appliance.db.models_people import ApiToken, StaffUser
from appliance.db.models_site import Site, StaffSite
from appliance.db.site import site_of_station
from appliance.errors import N_, InvalidInput
from appliance.people.sessions import STAFF, end_all


@dataclass(frozen=True)
class Scope:
    """What one person may see: `sites` None is the whole installation."""

    sites: frozenset[int] | None = None

    @property
    def installation(self) -> bool:
        return self.sites is None

    def allows(self, site_id: int | None) -> bool:
        return self.sites is None or site_id in self.sites


def staff_sites(user_id: int) -> frozenset[int] | None:
    """The sites a staff login works at; None: the whole installation."""
    ids = frozenset(r.site_id for r in StaffSite.select(StaffSite.site)
                    .where(StaffSite.staff == user_id))
    return ids or None


def token_sites(token_name: str) -> frozenset[int] | None:
    row = ApiToken.get_or_none(ApiToken.name == token_name)
    return frozenset([row.site_id]) if row is not None and row.site_id is not None else None


def set_staff_sites(username: str, site_ids: list[int]) -> None:
    """Give a login its sites (none: the whole installation); its sessions end, so its next
    page asks again and sees what it now may."""
    user = StaffUser.get_or_none(StaffUser.username == username)
    if user is None:
        raise InvalidInput(N_("There is no staff login %(name)s."), params={"name": username})
    known = {s.id for s in Site.select(Site.id).where(Site.id.in_(site_ids))}
    if known != set(site_ids):
        raise InvalidInput(N_("There is no such site."), details={"field": "sites"})
    before = staff_sites(user.id) or frozenset()
    if before == frozenset(site_ids):
        return
    StaffSite.delete().where(StaffSite.staff == user.id).execute()
    if site_ids:
        StaffSite.insert_many([{"staff": user.id, "site": s} for s in sorted(set(site_ids))]
                              ).execute()
    end_all(STAFF, user.id, "sites")


def sites_by_staff() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for staff_id, site_id in StaffSite.select(StaffSite.staff, StaffSite.site).tuples():
        out.setdefault(staff_id, []).append(site_id)
    return out


# --- the site of what a URL names (None: no such thing) ----------------------------------------
station_site = site_of_station


def session_site(session_id: int) -> int | None:
    row = (Station.select(Station.site_id).join(ChargingSession)
           .where(ChargingSession.id == session_id).first())
    return row.site_id if row is not None else None


def tariff_site(tariff_id: int) -> int | None:
    row = Tariff.get_or_none(Tariff.id == tariff_id)
    return row.site_id if row is not None else None
