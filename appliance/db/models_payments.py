"""Online payments (issue 20): the providers' settings with their secrets encrypted, each walk-in
payment and what became of it, and the webhook events seen. Migration 0016_online_payments."""

from __future__ import annotations

from peewee import (
    AutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from appliance.db.models import Account, BaseModel, Driver, Station, utcnow
from appliance.db.models_driver import QrStart


class PaymentProviderConfig(BaseModel):
    """One provider's settings. The secrets are Fernet tokens made with the box's payment key
    file (payments.secrets): a copied database alone gives nobody the keys."""

    id = AutoField()
    provider = CharField(max_length=16, unique=True)
    enabled = BooleanField(default=False)
    key_id = CharField(max_length=200, default="")  # public half (Razorpay key id); may be ""
    secret_enc = TextField(default="")
    webhook_secret_enc = TextField(default="")
    updated_by = CharField(max_length=80, default="")
    updated_at = DateTimeField(default=utcnow)


class OnlinePayment(BaseModel):
    """A walk-in payment for one session. `token` is the phone's handle on it (in the return
    URL); `ref` the provider's checkout (order, link or checkout session) and `payment_ref` the
    payment it confirmed. States: created (sent to the provider) -> held (booked on its guest
    account, the hold committed) -> returning (the session is over or never began: what is not
    the fee goes back) -> done; or abandoned (never paid), or mismatch (paid something else)."""

    id = AutoField()
    provider = CharField(max_length=16)
    token = CharField(max_length=64, unique=True)
    ref = CharField(max_length=120, null=True, unique=True)
    payment_ref = CharField(max_length=120, null=True, unique=True)
    checkout_url = TextField(default="")
    amount = BigIntegerField()
    currency = CharField(max_length=3)
    station = ForeignKeyField(Station, on_delete="RESTRICT")
    station_id: int
    connector_id = IntegerField()
    limit_wh = BigIntegerField(null=True)
    manual_capture = BooleanField(default=False)
    driver = ForeignKeyField(Driver, null=True, on_delete="RESTRICT")
    driver_id: int | None
    account = ForeignKeyField(Account, null=True, on_delete="RESTRICT")
    account_id: int | None
    qr_start = ForeignKeyField(QrStart, null=True, on_delete="RESTRICT")
    qr_start_id: int | None
    # A signed-in driver who keeps the rest as balance: booked on their own account, nothing
    # given back (migration 0021).
    keep_for = ForeignKeyField(Driver, null=True, on_delete="RESTRICT", column_name="keep_for_id",
                               backref="kept_payments")
    keep_for_id: int | None
    state = CharField(max_length=12, default="created", index=True)
    return_amount = BigIntegerField(null=True)  # fixed when returning begins
    attempts = IntegerField(default=0)
    next_try_at = DateTimeField(null=True)
    last_error = CharField(max_length=200, default="")
    message = CharField(max_length=200, default="")
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class WebhookEvent(BaseModel):
    """A provider's webhook delivery: verified ones once per event id (a replay changes
    nothing); refused ones kept too, for staff to see."""

    id = AutoField()
    provider = CharField(max_length=16)
    event_id = CharField(max_length=120)
    kind = CharField(max_length=60, default="")
    verified = BooleanField(default=True)
    outcome = CharField(max_length=200, default="")
    received_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("provider", "event_id"), True),)


class SmsConfig(BaseModel):
    """The SMS provider for sign-up codes (MSG91 or Twilio): `account` is the public half
    (Twilio's account SID, MSG91's template id), `secret_enc` the sealed token or auth key,
    `sender` the number or sender id the text comes from. Migration 0021."""

    id = AutoField()
    provider = CharField(max_length=16, unique=True)
    enabled = BooleanField(default=False)
    account = CharField(max_length=200, default="")
    secret_enc = TextField(default="")
    sender = CharField(max_length=40, default="")
    country_code = CharField(max_length=4, default="91")  # put before a number typed without
    updated_by = CharField(max_length=80, default="")
    updated_at = DateTimeField(default=utcnow)


class PhoneCode(BaseModel):
    """A one-time code sent by SMS to a phone number (its digits): only its hash is kept; it
    expires, allows a few tries and is used once. `address` is the asking phone's, for the
    per-address limit."""

    id = AutoField()
    phone = CharField(max_length=40, index=True)
    code_hash = CharField(max_length=64)
    address = CharField(max_length=64, default="", index=True)
    tries = IntegerField(default=0)
    sent_at = DateTimeField(default=utcnow, index=True)
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)


class OnlineTopup(BaseModel):
    """A registered driver's top-up paid online. States: created (sent to the provider) ->
    booked (one `payment:{provider}:{id}` ledger row on their account); or abandoned (never
    paid), or mismatch (paid in another currency: shown to staff, nothing booked)."""

    id = AutoField()
    provider = CharField(max_length=16)
    token = CharField(max_length=64, unique=True)
    ref = CharField(max_length=120, null=True, unique=True)
    payment_ref = CharField(max_length=120, null=True, unique=True)
    checkout_url = TextField(default="")
    amount = BigIntegerField()
    currency = CharField(max_length=3)
    driver = ForeignKeyField(Driver, on_delete="RESTRICT")
    driver_id: int
    state = CharField(max_length=12, default="created", index=True)
    message = CharField(max_length=200, default="")
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class PushSubscription(BaseModel):
    """A driver's phone that asked to be told when charging ends (Web Push): the push
    service's endpoint and the browser's keys for the payload. Migration 0021."""

    id = AutoField()
    driver = ForeignKeyField(Driver, on_delete="RESTRICT")
    driver_id: int
    endpoint = CharField(max_length=1000, unique=True)
    p256dh = CharField(max_length=120)
    auth = CharField(max_length=40)
    created_at = DateTimeField(default=utcnow)
    last_sent_at = DateTimeField(null=True)


MODELS: list[type[Model]] = [PaymentProviderConfig, OnlinePayment, WebhookEvent, SmsConfig,
                             PhoneCode, OnlineTopup, PushSubscription]
