"""Tests for the outbox system checks."""

import unittest

from django.core.checks import Error, Warning
from django.db import connection
from django.test import (
    SimpleTestCase,
    TestCase,
    TransactionTestCase,
    override_settings,
)

from sms.backends.vonage import SmsBackend as VonageBackend
from sms_outbox.checks import (
    check_mysql_server,
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
            [sqlite_locking_warning()],
        )

    def test_a_deployment_check_only(self):
        from django.core import checks

        self.assertNotIn(check_sqlite_locking, checks.registry.registry.get_checks())
        self.assertIn(
            check_sqlite_locking,
            checks.registry.registry.get_checks(include_deployment_checks=True),
        )


def sqlite_locking_warning():
    """Return ``sms_outbox.W001`` for the test database."""
    return Warning(
        "The outbox runs on SQLite without IMMEDIATE transactions and a busy "
        "timeout of at least 5 s: drains that run at the same time "
        "(--concurrency, a worker beside cron) may stall or retry on "
        "'database is locked'.",
        hint="Set DATABASES['default']['OPTIONS'] = {'transaction_mode': "
        "'IMMEDIATE', 'timeout': 20}. The cost: every transaction then takes the "
        "write lock when it begins, so with ATOMIC_REQUESTS every request does, "
        "and requests that write run one at a time. Or run one drain at a time "
        "and leave SQLite as it is.",
        id="sms_outbox.W001",
    )


class MysqlServerCheckTests(TestCase):
    def test_runs_only_as_a_database_check(self):
        self.assertEqual(check_mysql_server(), [])

    @unittest.skipIf(connection.vendor == "mysql", "tested on MySQL below")
    def test_nothing_to_say_on_other_databases(self):
        self.assertEqual(check_mysql_server(databases=["default"]), [])


@unittest.skipUnless(connection.vendor == "mysql", "needs MySQL or MariaDB")
class MysqlServerFaultTests(TransactionTestCase):
    """The check against the real server, with one thing wrong at a time.

    Not in a transaction: the tests reconnect and ALTER the outbox table.
    """

    def check(self):
        return check_mysql_server(databases=["default"])

    def test_utf8mb4_and_skip_locked_pass(self):
        self.assertEqual(self.check(), [])

    def test_server_without_skip_locked(self):
        # What Django reports for MariaDB 10.5, the engine's switch too.
        features = connection.features
        features.has_select_for_update_skip_locked = False
        self.addCleanup(delattr, features, "has_select_for_update_skip_locked")
        server = "MariaDB" if connection.mysql_is_mariadb else "MySQL"
        version = ".".join(map(str, connection.mysql_version))
        self.assertEqual(
            self.check(),
            [
                Warning(
                    f"The outbox's database ('default') is {server} {version}, "
                    "which has no SELECT ... FOR UPDATE SKIP LOCKED: concurrent "
                    "drains wait for each other's row locks instead of passing "
                    "them.",
                    hint="Upgrade to MariaDB 10.6 or MySQL 8.0.1 or later, or run "
                    "one send_queued_sms at a time.",
                    id="sms_outbox.W003",
                )
            ],
        )

    def test_utf8mb3_connection(self):
        options = connection.settings_dict["OPTIONS"]
        self.addCleanup(connection.close)
        self.addCleanup(options.update, dict(options))
        options["charset"] = "utf8mb3"
        connection.close()
        self.assertEqual(
            self.check(),
            [
                Warning(
                    "The connection to the outbox's database ('default') uses the "
                    "utf8mb3 character set: an SMS body with an emoji cannot be "
                    "stored.",
                    hint="Set DATABASES['default']['OPTIONS']['charset'] = 'utf8mb4'.",
                    id="sms_outbox.W004",
                )
            ],
        )

    def test_utf8mb3_body_column(self):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT collation_name FROM information_schema.columns WHERE "
                "table_schema = DATABASE() AND table_name = 'sms_outbox_message' "
                "AND column_name = 'body'"
            )
            (collation,) = cursor.fetchone()
            alter = "ALTER TABLE sms_outbox_message MODIFY body longtext {} NOT NULL"
            cursor.execute(alter.format("CHARACTER SET utf8mb3"))
        self.addCleanup(
            lambda: connection.cursor().execute(
                alter.format(f"CHARACTER SET utf8mb4 COLLATE {collation}")
            )
        )
        self.assertEqual(
            self.check(),
            [
                Warning(
                    "The outbox's table sms_outbox_message (or, before it is "
                    "created, its database 'default') stores text as utf8mb3: an "
                    "SMS body with an emoji cannot be stored.",
                    hint="Run ALTER TABLE sms_outbox_message CONVERT TO CHARACTER "
                    "SET utf8mb4 COLLATE utf8mb4_unicode_ci; (before migrate: "
                    "ALTER DATABASE ... CHARACTER SET utf8mb4 COLLATE "
                    "utf8mb4_unicode_ci).",
                    id="sms_outbox.W005",
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


#: A URLconf without the outbox's webhooks (ROOT_URLCONF = this module).
urlpatterns = []


class VonageReceiptsBackend(VonageBackend):
    """A project's own subclass still needs the secret."""


def vonage_secret_warning(setting):
    return Warning(
        f"{setting} is the Vonage backend and the outbox's Vonage webhook URLs "
        "are installed, but VONAGE_SIGNATURE_SECRET is not set: the endpoints "
        "cannot verify what Vonage sends and will answer 500.",
        hint="Set VONAGE_SIGNATURE_SECRET to the signature secret in the Vonage "
        "dashboard (API settings) and turn on signed webhooks there, with the "
        "method in VONAGE_SIGNATURE_METHOD.",
        id="sms_outbox.W006",
    )


@override_settings(
    SMS_BACKEND="sms_outbox.backends.QueuedSmsBackend",
    SMS_OUTBOX_BACKEND="sms.backends.vonage.SmsBackend",
    SMS_STATUS_CALLBACK_URL=None,
    VONAGE_SIGNATURE_SECRET=None,
)
class VonageSecretCheckTests(SimpleTestCase):
    def test_outbox_backend_without_secret(self):
        # Receipts set in Vonage's dashboard: no SMS_STATUS_CALLBACK_URL needed.
        self.assertEqual(
            check_receipt_settings(), [vonage_secret_warning("SMS_OUTBOX_BACKEND")]
        )

    @override_settings(
        SMS_BACKEND="tests.outbox.test_checks.VonageReceiptsBackend",
        SMS_OUTBOX_BACKEND="sms.backends.locmem.SmsBackend",
    )
    def test_direct_backend_subclass_without_secret(self):
        self.assertEqual(
            check_receipt_settings(), [vonage_secret_warning("SMS_BACKEND")]
        )

    @override_settings(VONAGE_SIGNATURE_SECRET="signature-secret")
    def test_secret_set(self):
        self.assertEqual(check_receipt_settings(), [])

    @override_settings(ROOT_URLCONF="tests.outbox.test_checks")
    def test_webhooks_not_installed(self):
        self.assertEqual(check_receipt_settings(), [])

    @override_settings(SMS_OUTBOX_BACKEND="sms.backends.twilio.SmsBackend")
    def test_other_backend(self):
        self.assertEqual(check_receipt_settings(), [])

    @override_settings(SMS_OUTBOX_BACKEND="sms.backends.vonage.NoSuchBackend")
    def test_unimportable_backend_left_to_the_backend_check(self):
        self.assertEqual(check_receipt_settings(), [])
