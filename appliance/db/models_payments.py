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


MODELS: list[type[Model]] = [PaymentProviderConfig, OnlinePayment, WebhookEvent]
