"""Tests for the outbox system checks."""

from django.core.checks import Error, Warning
from django.db import connection
from django.test import SimpleTestCase, override_settings

from sms_outbox.checks import (
    check_outbox_backend,
    check_receipt_settings,
    check_sqlite_locking,
)


class OutboxBackendCheckTests(SimpleTestCase):
    @override_settings(SMS_OUTBOX_BACKEND="sms.backends.locmem.SmsBackend")
    def test_valid(self):
        self.assertEqual(check_outbox_backend(), [])

    @override_settings(SMS_OUTBOX_BACKEND=None)
    def test_missing(self):
        self.assertEqual(
            check_outbox_backend(),
            [
                Error(
                    "SMS_OUTBOX_BACKEND is not set.",
                    hint="Set SMS_OUTBOX_BACKEND to a backend path such as "
                    "'sms.backends.console.SmsBackend'.",
                    id="sms_outbox.E001",
                )
            ],
        )

    @override_settings(SMS_OUTBOX_BACKEND="sms_outbox.backends.QueuedSmsBackend")
    def test_loop(self):
        self.assertEqual(
            check_outbox_backend(),
            [
                Error(
                    "SMS_OUTBOX_BACKEND is 'sms_outbox.backends.QueuedSmsBackend', "
                    "the queued backend itself: queued SMS would be queued again "
                    "forever.",
                    hint="Set SMS_OUTBOX_BACKEND to a backend that delivers, such as "
                    "'sms.backends.twilio.SmsBackend'.",
                    id="sms_outbox.E004",
                )
            ],
        )

    @override_settings(
        SMS_OUTBOX_BACKEND="sms.backends.twilio.SmsBackend",
        TWILIO_ACCOUNT_SID=None,
        TWILIO_AUTH_TOKEN="x",
    )
    def test_missing_credentials(self):
        self.assertEqual(
            [(e.id, e.msg) for e in check_outbox_backend()],
            [
                (
                    "sms_outbox.E003",
                    "sms.backends.twilio.SmsBackend needs the TWILIO_ACCOUNT_SID "
                    "setting, which is not set.",
                )
            ],
        )


class SqliteCheckTests(SimpleTestCase):
    def test_warns_without_immediate_transactions(self):
        if connection.vendor != "sqlite":
            self.assertEqual(check_sqlite_locking(), [])
            return
        self.assertEqual(check_sqlite_locking(), [])
        options = connection.settings_dict["OPTIONS"]
        saved = dict(options)
        self.addCleanup(options.update, saved)
        options["transaction_mode"] = "DEFERRED"
        self.assertEqual(
            check_sqlite_locking(),
            [
                Warning(
                    "The outbox runs on SQLite without IMMEDIATE transactions and a "
                    "busy timeout of at least 5 s: concurrent drains may stall or "
                    "retry on 'database is locked'.",
                    hint="Set DATABASES['default']['OPTIONS'] = {'transaction_mode': "
                    "'IMMEDIATE', 'timeout': 20}.",
                    id="sms_outbox.W001",
                )
            ],
        )


@override_settings(
    SMS_STATUS_CALLBACK_URL="https://sms.example.com/sms/receipts/messagebird/",
    SMS_BACKEND="sms_outbox.backends.QueuedSmsBackend",
    SMS_OUTBOX_BACKEND="sms.backends.messagebird.SmsBackend",
    MESSAGEBIRD_SIGNING_KEY=None,
)
class ReceiptSettingsCheckTests(SimpleTestCase):
    def test_messagebird_reports_without_signing_key(self):
        self.assertEqual(
            check_receipt_settings(),
            [
                Warning(
                    "SMS_STATUS_CALLBACK_URL asks MessageBird for delivery reports "
                    "(SMS_OUTBOX_BACKEND is the MessageBird backend), but "
                    "MESSAGEBIRD_SIGNING_KEY is not set: the report endpoint cannot "
                    "verify them and will answer 500.",
                    hint="Set MESSAGEBIRD_SIGNING_KEY to the signing key from "
                    "MessageBird's dashboard (not the access key).",
                    id="sms_outbox.W002",
                )
            ],
        )

    @override_settings(MESSAGEBIRD_SIGNING_KEY="signing-key")
    def test_signing_key_set(self):
        self.assertEqual(check_receipt_settings(), [])

    @override_settings(SMS_STATUS_CALLBACK_URL=None)
    def test_no_reports_requested(self):
        self.assertEqual(check_receipt_settings(), [])

    @override_settings(SMS_OUTBOX_BACKEND="sms.backends.twilio.SmsBackend")
    def test_twilio_verifies_with_its_auth_token(self):
        self.assertEqual(check_receipt_settings(), [])
