"""Login sessions on the server, for staff and drivers alike: opened at login, looked up on each
request, ended at logout, at logout-everywhere, at a password or PIN reset and when a login is
disabled; drivers' sessions slide.

Lifetimes. Staff: 12 hours from login, not sliding: a shift, then the password again (a desk PC
is shared and staff hold money). Drivers: 30 days since the phone last used it, and never more
than 180 days from the PIN: a driver who charges weekly or monthly stays logged in on their own
phone, a lost or passed-on phone falls out within a month even if nobody tells the desk, and
twice a year the PIN is asked again so that a forgotten one is noticed at the desk, not at the
charger. Logout and the desk end a session at once whatever these say."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from appliance.db.models import utcnow
from appliance.db.models_people import LoginSession
from appliance.people.tokens import token_hash

STAFF, DRIVER = "staff", "driver"
STAFF_LIFETIME = timedelta(hours=12)
DRIVER_IDLE = timedelta(days=30)
DRIVER_LIFETIME = timedelta(days=180)
SLIDE_EVERY = timedelta(hours=1)  # one write an hour per phone at most, not one per page
LIVE_PER_PERSON = 20  # older sessions of the same person end when a new one starts
KEEP_ENDED = timedelta(days=30)  # ended rows stay this long (who was logged in when), then go


@dataclass(frozen=True)
class Opened:
    token: str  # for the cookie; only its hash is stored
    expires_at: datetime


def open_session(kind: str, person_id: int, address: str = "") -> Opened:
    """A new session for a person who just proved who they are (writer)."""
    now, token = utcnow(), secrets.token_urlsafe(32)
    expires = now + (STAFF_LIFETIME if kind == STAFF else DRIVER_IDLE)
    LoginSession.create(kind=kind, person_id=person_id, token_hash=token_hash(token),
                        created_at=now, seen_at=now, expires_at=expires, address=address[:64])
    _tidy(kind, person_id, now)
    return Opened(token, expires)


def _tidy(kind: str, person_id: int, now: datetime) -> None:
    """Keep a person's rows bounded: end all but the newest live ones, drop old ended ones."""
    mine = (LoginSession.kind == kind) & (LoginSession.person_id == person_id)
    live = (LoginSession.select(LoginSession.id).where(mine & LoginSession.ended_at.is_null())
            .order_by(LoginSession.id.desc()).offset(LIVE_PER_PERSON))
    (LoginSession.update(ended_at=now, ended_why="too-many")
     .where(LoginSession.id.in_([r.id for r in live])).execute())
    (LoginSession.delete().where(mine & (
        (LoginSession.ended_at < now - KEEP_ENDED)
        | (LoginSession.expires_at < now - KEEP_ENDED))).execute())


def live_session(kind: str, token: str) -> LoginSession | None:
    """The live session this cookie token names, if any (reader)."""
    return LoginSession.get_or_none(
        (LoginSession.token_hash == token_hash(token)) & (LoginSession.kind == kind)
        & LoginSession.ended_at.is_null() & (LoginSession.expires_at > utcnow()))


def needs_slide(session: LoginSession) -> bool:
    return session.kind == DRIVER and utcnow() - session.seen_at >= SLIDE_EVERY


def slide(session_id: int) -> None:
    """A driver used their session: the idle limit starts again, up to the lifetime (writer)."""
    row = LoginSession.get_or_none(LoginSession.id == session_id)
    if row is None:
        return
    now = utcnow()
    expires = min(now + DRIVER_IDLE, row.created_at + DRIVER_LIFETIME)
    (LoginSession.update(seen_at=now, expires_at=expires)
     .where((LoginSession.id == session_id) & LoginSession.ended_at.is_null()
            & (LoginSession.expires_at > now)).execute())


def end_session(kind: str, token: str, why: str = "logout") -> None:
    (LoginSession.update(ended_at=utcnow(), ended_why=why)
     .where((LoginSession.token_hash == token_hash(token)) & (LoginSession.kind == kind)
            & LoginSession.ended_at.is_null()).execute())


def end_all(kind: str, person_id: int, why: str) -> int:
    """End every session of a person (logout everywhere, reset, disable). Returns how many."""
    return int(LoginSession.update(ended_at=utcnow(), ended_why=why)
               .where((LoginSession.kind == kind) & (LoginSession.person_id == person_id)
                      & LoginSession.ended_at.is_null()).execute())


def prune(now: datetime | None = None) -> int:
    """Drop sessions ended or expired more than KEEP_ENDED ago, for every person (for a nightly
    job; logins already tidy their own person's rows). Returns how many went."""
    cut = (now or utcnow()) - KEEP_ENDED
    return int(LoginSession.delete().where((LoginSession.ended_at < cut)
                                           | (LoginSession.expires_at < cut)).execute())
