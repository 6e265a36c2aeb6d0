"""Issue 20, second part: self sign-up by an SMS code (the SMS provider's settings, sealed like
the payment providers', and the codes sent, hashed), online top-ups of a registered driver's
balance, a walk-in payment a signed-in driver keeps the rest of as balance, and drivers' Web
Push subscriptions."""
from peewee import *


def up(migrator, db):
    class Driver(Model):
        class Meta:
            database = db
            table_name = 'driver'

    class SmsConfig(Model):
        provider = CharField(max_length=16, unique=True)
        enabled = BooleanField(default=False)
        account = CharField(max_length=200, default='')
        secret_enc = TextField(default='')
        sender = CharField(max_length=40, default='')
        country_code = CharField(max_length=4, default='91')
        updated_by = CharField(max_length=80, default='')
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'sms_config'

    class PhoneCode(Model):
        phone = CharField(max_length=40, index=True)
        code_hash = CharField(max_length=64)
        address = CharField(max_length=64, default='', index=True)
        tries = IntegerField(default=0)
        sent_at = DateTimeField(index=True)
        expires_at = DateTimeField()
        used_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'phone_code'

    class OnlineTopup(Model):
        provider = CharField(max_length=16)
        token = CharField(max_length=64, unique=True)
        ref = CharField(max_length=120, null=True, unique=True)
        payment_ref = CharField(max_length=120, null=True, unique=True)
        checkout_url = TextField(default='')
        amount = BigIntegerField()
        currency = CharField(max_length=3)
        driver = ForeignKeyField(Driver, on_delete='RESTRICT')
        state = CharField(max_length=12, default='created', index=True)
        message = CharField(max_length=200, default='')
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'online_topup'

    class PushSubscription(Model):
        driver = ForeignKeyField(Driver, on_delete='RESTRICT')
        endpoint = CharField(max_length=1000, unique=True)
        p256dh = CharField(max_length=120)
        auth = CharField(max_length=40)
        created_at = DateTimeField()
        last_sent_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'push_subscription'

    db.create_tables([SmsConfig, PhoneCode, OnlineTopup, PushSubscription])
    migrator.migrate(
        migrator.add_column('online_payment', 'keep_for_id',
                            ForeignKeyField(Driver, field=Driver.id, null=True,
                                            on_delete='RESTRICT')))


def down(migrator, db):
    migrator.migrate(migrator.drop_column('online_payment', 'keep_for_id'))
    for table in ('push_subscription', 'online_topup', 'phone_code', 'sms_config'):
        migrator.migrate(migrator.drop_table(table))
