"""One-time codes sent by SMS to prove a phone number at sign-up (and to set a new PIN): six
digits, only a hash kept, valid for CODE_TTL, a few tries each, used once; how often a number
and an address may ask is limited, because every text costs the site money and a stranger could
flood someone's phone. Sync functions for the database seam."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from appliance.db.models_payments import PhoneCode
from appliance.errors import N_, InvalidInput, TooMany
from appliance.people.drivers import digits

CODE_TTL = timedelta(minutes=10)
RESEND_AFTER = timedelta(seconds=60)  # one text per number per minute
PER_NUMBER_HOUR = 5
PER_ADDRESS_HOUR = 10
TRIES = 5  # wrong codes before a code is dead


def _key(phone: str) -> str:
    """Numbers compare by their last ten digits, as logins do (with or without country code)."""
    return digits(phone)[-10:]


def _hash(phone: str, code: str) -> str:
    return hmac.new(_key(phone).encode(), code.encode(), hashlib.sha256).hexdigest()


def issue(phone: str, address: str, at: datetime) -> str:
    """A new code for `phone`, or TooMany when this number or address asked too often."""
    key = _key(phone)
    if len(key) < 6:
        raise InvalidInput(N_("A phone number is needed."), details={"field": "phone"})
    hour = at - timedelta(hours=1)
    recent = list(PhoneCode.select(PhoneCode.sent_at).where(
        (PhoneCode.phone == key) & (PhoneCode.sent_at > hour)))
    if any(r.sent_at > at - RESEND_AFTER for r in recent):
        raise TooMany(N_("A code was sent to this number a moment ago. Wait a minute before "
                         "asking for another."))
    if len(recent) >= PER_NUMBER_HOUR or PhoneCode.select().where(
            (PhoneCode.address == address[:64]) & (PhoneCode.sent_at > hour)).count() \
            >= PER_ADDRESS_HOUR:
        raise TooMany(N_("Too many codes asked for. Try again in an hour, or ask at the "
                         "desk."))
    code = f"{secrets.randbelow(10 ** 6):06d}"
    PhoneCode.create(phone=key, code_hash=_hash(key, code), address=address[:64], sent_at=at,
                     expires_at=at + CODE_TTL)
    return code


def withdraw(phone: str, at: datetime) -> None:
    """The text could not be sent: the code is dead and does not count against the number."""
    (PhoneCode.delete().where((PhoneCode.phone == _key(phone)) & (PhoneCode.sent_at == at))
     .execute())


def verify(phone: str, code: str, at: datetime) -> str | None:
    """Use the newest live code of `phone`: None when it was right, else why not. It returns
    instead of raising so that the caller's transaction keeps the wrong try counted."""
    latest = (PhoneCode.select().where((PhoneCode.phone == _key(phone))
                                       & PhoneCode.used_at.is_null())
              .order_by(PhoneCode.sent_at.desc(), PhoneCode.id.desc()).first())
    if latest is None or latest.expires_at <= at or latest.tries >= TRIES:
        return N_("This code has expired or was used up: ask for a new one.")
    if not hmac.compare_digest(latest.code_hash, _hash(phone, code.strip())):
        PhoneCode.update(tries=PhoneCode.tries + 1).where(PhoneCode.id == latest.id).execute()
        return N_("Wrong code.")
    PhoneCode.update(used_at=at).where(PhoneCode.id == latest.id).execute()
    return None


def prune(before: datetime) -> int:
    return int(PhoneCode.delete().where(PhoneCode.sent_at < before).execute())
