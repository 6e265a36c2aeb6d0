"""Online payments (issue 20): providers' settings with encrypted secrets, walk-in payments
and the webhook events seen (time defaults live in the models)."""
from peewee import *


def up(migrator, db):
    class Account(Model):
        class Meta:
            database = db
            table_name = 'account'

    class Driver(Model):
        class Meta:
            database = db
            table_name = 'driver'

    class Station(Model):
        class Meta:
            database = db
            table_name = 'station'

    class QrStart(Model):
        class Meta:
            database = db
            table_name = 'qr_start'

    class PaymentProviderConfig(Model):
        provider = CharField(max_length=16, unique=True)
        enabled = BooleanField(default=False)
        key_id = CharField(max_length=200, default='')
        secret_enc = TextField(default='')
        webhook_secret_enc = TextField(default='')
        updated_by = CharField(max_length=80, default='')
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'payment_provider_config'

    class OnlinePayment(Model):
        provider = CharField(max_length=16)
        token = CharField(max_length=64, unique=True)
        ref = CharField(max_length=120, null=True, unique=True)
        payment_ref = CharField(max_length=120, null=True, unique=True)
        checkout_url = TextField(default='')
        amount = BigIntegerField()
        currency = CharField(max_length=3)
        station = ForeignKeyField(Station, on_delete='RESTRICT')
        connector_id = IntegerField()
        limit_wh = BigIntegerField(null=True)
        manual_capture = BooleanField(default=False)
        driver = ForeignKeyField(Driver, null=True, on_delete='RESTRICT')
        account = ForeignKeyField(Account, null=True, on_delete='RESTRICT')
        qr_start = ForeignKeyField(QrStart, null=True, on_delete='RESTRICT')
        state = CharField(max_length=12, default='created', index=True)
        return_amount = BigIntegerField(null=True)
        attempts = IntegerField(default=0)
        next_try_at = DateTimeField(null=True)
        last_error = CharField(max_length=200, default='')
        message = CharField(max_length=200, default='')
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'online_payment'

    class WebhookEvent(Model):
        provider = CharField(max_length=16)
        event_id = CharField(max_length=120)
        kind = CharField(max_length=60, default='')
        verified = BooleanField(default=True)
        outcome = CharField(max_length=200, default='')
        received_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'webhook_event'
            indexes = ((('provider', 'event_id'), True),)

    db.create_tables([PaymentProviderConfig, OnlinePayment, WebhookEvent])


def down(migrator, db):
    for table in ('webhook_event', 'online_payment', 'payment_provider_config'):
        migrator.migrate(migrator.drop_table(table))
