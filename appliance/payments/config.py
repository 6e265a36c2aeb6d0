"""The providers' settings as staff save them: enabled, the public key id, and the secrets sealed
with the box's key file. Sync functions for the database seam; secrets are sealed and opened by
the caller's `SecretBox`, never stored or logged in clear."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.db.models import utcnow
from appliance.db.models_payments import PaymentProviderConfig
from appliance.errors import N_, InvalidInput

PROVIDERS = ("razorpay", "stripe")


@dataclass(frozen=True)
class Sealed:
    provider: str
    enabled: bool
    key_id: str
    secret_enc: str
    webhook_secret_enc: str


def load(provider: str) -> Sealed | None:
    row = PaymentProviderConfig.get_or_none(PaymentProviderConfig.provider == provider)
    if row is None:
        return None
    return Sealed(row.provider, row.enabled, row.key_id, row.secret_enc, row.webhook_secret_enc)


def load_all() -> list[Sealed]:
    return [s for s in (load(p) for p in PROVIDERS) if s is not None]


def save(sealed: Sealed, actor: str) -> None:
    """Store a provider's settings; an empty secret keeps the one stored (forms never show
    them back)."""
    if sealed.provider not in PROVIDERS:
        raise InvalidInput(N_("There is no payment provider %(name)s."),
                           params={"name": sealed.provider}, details={"field": "provider"})
    row = PaymentProviderConfig.get_or_none(PaymentProviderConfig.provider == sealed.provider) \
        or PaymentProviderConfig(provider=sealed.provider)
    row.enabled, row.key_id = sealed.enabled, sealed.key_id.strip()[:200]
    if sealed.secret_enc:
        row.secret_enc = sealed.secret_enc
    if sealed.webhook_secret_enc:
        row.webhook_secret_enc = sealed.webhook_secret_enc
    row.updated_by, row.updated_at = actor[:80], utcnow()
    row.save()
