"""Stations' security profiles and certificates (issue 19): the profile only goes up on a
connection, an upgrade under way and its outcome, the certificates the site CA signed for a
station, and certificate commands with their results. Synchronous; run through the seam."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from appliance.db.models import Station, utcnow
from appliance.db.models_pki import CertificateCommand, StationCertificate
from appliance.errors import N_, InvalidInput, NotFound, Text

PROFILES = (1, 2, 3)
COMMANDS_SHOWN = 20
# The note on an upgrade (stored in English; the charger page shows it in the reader's).
UPGRADED = N_("upgraded to profile %(profile)s")
FELL_BACK = N_("fell back: the charger came back at profile %(profile)s, not %(target)s; it "
               "stays at profile %(kept)s")
UPGRADING = N_("upgrading to profile %(profile)s")
RESET = N_("reset from profile %(old)s to %(profile)s by an admin")
NO_ANSWER = N_("the charger did not answer the profile change")
REFUSED = N_("the charger answered %(status)s to security profile %(profile)s")
TIMED_OUT = N_("fell back: the charger did not come back at profile %(profile)s within "
               "%(seconds)s s")
NOTES = (UPGRADED, FELL_BACK, UPGRADING, RESET, NO_ANSWER, REFUSED, TIMED_OUT)


def _station(station_id: int) -> Station:
    st = Station.get_or_none(Station.id == station_id)
    if st is None:
        raise NotFound(N_("no such station"))
    return st


def connected_at(station_id: int, profile: int) -> tuple[int, str]:
    """A charger connected at `profile`: an upgrade to it (or below it) is done, and the
    station's profile is raised to it. Returns (the station's profile, the note)."""
    st = _station(station_id)
    if not st.profile_target:
        return st.security_profile, ""
    if profile >= st.profile_target:
        st.security_profile = max(st.security_profile, st.profile_target)
        st.profile_note = Text(UPGRADED, profile=st.profile_target)
    else:  # the charger could not connect at the new profile and went back to its old one
        st.profile_note = Text(FELL_BACK, profile=profile, target=st.profile_target,
                               kept=st.security_profile)
    st.profile_target = 0
    st.save()
    return st.security_profile, st.profile_note


def check_step(station_id: int, target: int) -> Station:
    """A profile goes up one step at a time (2 needs the CA on the charger, 3 a certificate
    it got at 2), never down, and not while an upgrade is under way."""
    if target not in PROFILES:
        raise InvalidInput(N_("a security profile is 1, 2 or 3"))
    st = _station(station_id)
    if target <= st.security_profile:
        raise InvalidInput(N_("the station is at profile %(profile)s already; a profile only "
                              "goes up"), params={"profile": st.security_profile})
    if target != st.security_profile + 1:
        raise InvalidInput(N_("a profile goes up one step at a time: the station is at "
                              "profile %(profile)s, so the next is %(next)s"),
                           params={"profile": st.security_profile,
                                   "next": st.security_profile + 1})
    return st


def start_upgrade(station_id: int, target: int) -> None:
    st = check_step(station_id, target)
    st.profile_target, st.profile_note = target, Text(UPGRADING, profile=target)
    st.save()


def upgrade_failed(station_id: int, note: str) -> None:
    """The charger did not come back at the new profile (it fell back to its old one)."""
    Station.update(profile_target=0, profile_note=note[:200]).where(
        Station.id == station_id).execute()


def give_up_upgrade(station_id: int, target: int, note: str) -> bool:
    """The upgrade to `target` is still under way after its wait: it failed."""
    return bool(Station.update(profile_target=0, profile_note=note[:200]).where(
        (Station.id == station_id) & (Station.profile_target == target)).execute())


def reset_profile(station_id: int, profile: int) -> int:
    """An admin's explicit reset to a lower profile (the caller audits it). Returns the old."""
    if profile not in PROFILES:
        raise InvalidInput(N_("a security profile is 1, 2 or 3"))
    st = _station(station_id)
    old = st.security_profile
    st.security_profile, st.profile_target = profile, 0
    st.profile_note = Text(RESET, old=old, profile=profile)
    st.save()
    return int(old)


def record_issued(station_id: int, common_name: str, serial: str, fingerprint: str,
                  not_before: datetime, not_after: datetime) -> None:
    StationCertificate.create(station=station_id, common_name=common_name, serial=serial,
                              fingerprint=fingerprint, not_before=_naive(not_before),
                              not_after=_naive(not_after), issued_at=utcnow())


def _naive(moment: datetime) -> datetime:
    """Stored times are naive UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def station_id_of(cpid: str) -> int:
    st = Station.get_or_none((Station.cpid == cpid) & Station.retired_at.is_null())
    if st is None:
        raise NotFound(N_("no such station"))
    return int(st.id)


def has_valid_certificate(station_id: int, now: datetime) -> bool:
    now = _naive(now)
    return StationCertificate.select().where(
        (StationCertificate.station == station_id) & StationCertificate.revoked_at.is_null()
        & (StationCertificate.not_before <= now) & (StationCertificate.not_after > now)).exists()


def is_revoked(serial: str) -> bool:
    return StationCertificate.select().where(
        (StationCertificate.serial == serial)
        & StationCertificate.revoked_at.is_null(False)).exists()


def revoke(station_id: int, serial: str, by: str) -> None:
    updated = StationCertificate.update(revoked_at=utcnow(), revoked_by=by[:80]).where(
        (StationCertificate.station == station_id) & (StationCertificate.serial == serial)
        & StationCertificate.revoked_at.is_null()).execute()
    if not updated:
        raise NotFound(N_("no such certificate of this station, or revoked already"))


def due_for_renewal(before: datetime) -> list[str]:
    """Charge point ids whose newest certificate ends before `before` (and is not revoked)."""
    before = _naive(before)
    rows = (StationCertificate.select(StationCertificate.station, StationCertificate.not_after)
            .where(StationCertificate.revoked_at.is_null()).order_by(StationCertificate.id))
    newest: dict[int, datetime] = {}
    for row in rows:
        newest[row.station_id] = row.not_after
    ids = [s for s, end in newest.items() if end < before]
    return [st.cpid for st in Station.select(Station.cpid).where(
        Station.id.in_(ids) & (Station.security_profile == 3) & Station.retired_at.is_null())]


def record_command(station_id: int, action: str, request: dict[str, Any], status: str,
                   result: dict[str, Any], by: str) -> None:
    CertificateCommand.create(station=station_id, action=action, request=json.dumps(request),
                              status=status[:40], result=json.dumps(result), by=by[:80],
                              at=utcnow())


@dataclass(frozen=True)
class SecurityView:
    """What the charger page shows about its security."""

    profile: int
    target: int
    note: str
    certificates: list[dict[str, Any]]
    commands: list[dict[str, Any]]


def security_view(station_id: int) -> SecurityView:
    st = _station(station_id)
    certs = [{"serial": c.serial, "common_name": c.common_name, "fingerprint": c.fingerprint,
              "not_after": c.not_after, "issued_at": c.issued_at, "revoked_at": c.revoked_at}
             for c in StationCertificate.select().where(StationCertificate.station == station_id)
             .order_by(StationCertificate.id.desc()).limit(COMMANDS_SHOWN)]
    commands = [{"action": c.action, "request": json.loads(c.request or "{}"),
                 "status": c.status, "result": json.loads(c.result or "{}"), "by": c.by,
                 "at": c.at}
                for c in CertificateCommand.select().where(
                    CertificateCommand.station == station_id)
                .order_by(CertificateCommand.id.desc()).limit(COMMANDS_SHOWN)]
    return SecurityView(st.security_profile, st.profile_target,
                        Text.recognise(st.profile_note or "", NOTES), certs, commands)
