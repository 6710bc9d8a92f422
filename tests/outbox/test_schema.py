"""Tests for a forgotten migrate: a missing table is a configuration error."""

import threading
import unittest
from unittest import mock

from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.test import TestCase, TransactionTestCase, override_settings

import sms
from sms.exceptions import SmsConfigurationError
from sms_outbox.checks import check_migrations
from sms_outbox.drain import worker
from sms_outbox.drain.run import send_queued
from sms_outbox.models import Message
from sms_outbox.schema import is_missing_table, unapplied_migrations
from tests.outbox.drain.test_worker import StopAfter

QUEUED = "sms_outbox.backends.QueuedSmsBackend"
A = "+441134960000"
TABLE = Message._meta.db_table
HIDDEN = TABLE + "_hidden"


def missing_table_error(table=TABLE):
    """Return the exact error the outbox raises when ``table`` does not exist."""
    detail = {
        "sqlite": f"no such table: {table}",
        "postgresql": f'relation "{table}" does not exist',
        "mysql": f"Table '{connection.settings_dict['NAME']}.{table}' doesn't exist",
    }[connection.vendor]
    return (
        f"The outbox's tables are missing from the database 'default' "
        f"({detail}): run `python manage.py migrate` to create them."
    )


def database_error(sql):
    """Return the error the database raises for ``sql``, in a savepoint."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    except DatabaseError as err:
        return err
    raise AssertionError(f"{sql!r} did not fail")


class IsMissingTableTests(TestCase):
    """The driver's own errors, from the database the suite runs on."""

    def test_a_missing_table(self):
        err = database_error("SELECT * FROM sms_outbox_no_such_table")
        self.assertTrue(is_missing_table(err))

    def test_a_missing_column_is_not_a_missing_table(self):
        err = database_error(f"SELECT no_such_column FROM {TABLE}")
        self.assertFalse(is_missing_table(err))

    def test_a_syntax_error_naming_a_table_is_not(self):
        err = database_error("SELEKT 'no such table: x'")
        self.assertFalse(is_missing_table(err))

    def test_a_constraint_error_is_not(self):
        err = database_error(
            f"INSERT INTO {TABLE} (id) VALUES (NULL)"
            if connection.vendor != "mysql"
            else f"INSERT INTO {TABLE} (id, body) VALUES (1, NULL)"
        )
        self.assertIsInstance(err, IntegrityError)
        self.assertFalse(is_missing_table(err))

    def test_a_lost_connection_is_not(self):
        self.assertFalse(
            is_missing_table(DatabaseError("server closed the connection"))
        )
        self.assertFalse(is_missing_table(ValueError("no such table: x")))


class HiddenTableTestCase(TransactionTestCase):
    """The outbox's table renamed away for the test: migrate not run, in effect.

    Not in a transaction: MySQL commits DDL. The table gets its name back
    afterwards, with its foreign keys, which follow a renamed table.
    """

    def setUp(self):
        sms.outbox = []
        self.rename(TABLE, HIDDEN)
        self.addCleanup(self.rename, HIDDEN, TABLE)

    def rename(self, old, new):
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {quote(old)} RENAME TO {quote(new)}")


@override_settings(
    SMS_BACKEND=QUEUED,
    DEFAULT_FROM_SMS="Acme",
    SMS_OUTBOX_BACKEND="sms.backends.locmem.SmsBackend",
)
class MissingTableTests(HiddenTableTestCase):
    def test_send_sms_says_run_migrate(self):
        with self.assertRaises(SmsConfigurationError) as caught:
            sms.send_sms("Hi", None, [A])
        self.assertEqual(str(caught.exception), missing_table_error())
        self.assertIsInstance(caught.exception, ImproperlyConfigured)
        self.assertIsInstance(caught.exception.__cause__, DatabaseError)

    def test_fail_silently_does_not_hide_it(self):
        with self.assertRaisesMessage(SmsConfigurationError, "manage.py migrate"):
            sms.send_sms("Hi", None, [A], fail_silently=True)

    def test_the_drain_says_run_migrate(self):
        with self.assertRaises(SmsConfigurationError) as caught:
            send_queued()
        self.assertEqual(str(caught.exception), missing_table_error())
        self.assertTrue(is_missing_table(caught.exception.__cause__))

    def test_the_drain_says_so_from_its_threads_too(self):
        with self.assertRaisesMessage(SmsConfigurationError, missing_table_error()):
            send_queued(concurrency=2)

    def test_send_queued_sms_says_run_migrate(self):
        with self.assertRaises(CommandError) as caught:
            call_command("send_queued_sms", "-v", "0")
        self.assertEqual(str(caught.exception), missing_table_error())
        self.assertNotIn("ride out outages", str(caught.exception))

    def test_the_worker_stops_instead_of_retrying(self):
        event = threading.Event()
        stopper = StopAfter(event, 3)  # a worker that retried would wait
        with mock.patch.object(worker.threading, "Event", return_value=event):
            with mock.patch.object(event, "wait", stopper):
                with self.assertRaisesMessage(
                    SmsConfigurationError, missing_table_error()
                ):
                    list(worker.drain_until_stopped(loop=True))
        self.assertEqual(stopper.waits, [])

    def test_send_queued_sms_loop_stops_with_the_error(self):
        event = threading.Event()
        stopper = StopAfter(event, 3)
        with mock.patch.object(worker.threading, "Event", return_value=event):
            with mock.patch.object(event, "wait", stopper):
                with self.assertRaisesMessage(CommandError, missing_table_error()):
                    call_command("send_queued_sms", "--loop", "-v", "0")
        self.assertEqual(stopper.waits, [])


class UnappliedMigrationTests(TransactionTestCase):
    """``sms_outbox.W008`` against the real ``django_migrations`` table."""

    def forget(self, name):
        recorder = MigrationRecorder(connection)
        recorder.record_unapplied("sms_outbox", name)
        self.addCleanup(recorder.record_applied, "sms_outbox", name)

    def test_all_applied(self):
        self.assertEqual(unapplied_migrations("default"), [])
        self.assertEqual(check_migrations(databases=["default"]), [])

    def test_one_unapplied(self):
        self.forget("0005_lighter_status_changes")
        self.assertEqual(
            check_migrations(databases=["default"]),
            [
                checks_warning(
                    "The outbox's database 'default' has 1 unapplied sms_outbox "
                    "migration (0005_lighter_status_changes): send_sms() through "
                    "the queued backend and send_queued_sms fail until it is "
                    "applied."
                )
            ],
        )

    def test_several_unapplied(self):
        self.forget("0004_drain_writes")
        self.forget("0005_lighter_status_changes")
        self.assertEqual(
            check_migrations(databases=["default"]),
            [
                checks_warning(
                    "The outbox's database 'default' has 2 unapplied sms_outbox "
                    "migrations (0004_drain_writes, 0005_lighter_status_changes): "
                    "send_sms() through the queued backend and send_queued_sms "
                    "fail until they are applied."
                )
            ],
        )

    def test_only_for_the_outbox_database_and_app(self):
        from django.apps import apps

        self.forget("0005_lighter_status_changes")
        # A plain check (no database named) leaves the database alone.
        self.assertEqual(check_migrations(), [])
        self.assertEqual(check_migrations(databases=["other"]), [])
        sms_app = apps.get_app_config("sms")
        default = ["default"]
        self.assertEqual(check_migrations([sms_app], databases=default), [])
        outbox = apps.get_app_config("sms_outbox")
        self.assertEqual(len(check_migrations([outbox], databases=default)), 1)

    def test_registered_as_a_database_check(self):
        from django.core import checks

        self.forget("0005_lighter_status_changes")
        found = checks.run_checks(tags=[checks.Tags.database], databases=["default"])
        self.assertIn("sms_outbox.W008", [m.id for m in found])


def checks_warning(message):
    from django.core.checks import Warning

    return Warning(
        message,
        hint="Run `python manage.py migrate` (with --database default if that "
        "is not your default database).",
        id="sms_outbox.W008",
    )


@unittest.skipUnless(connection.vendor == "postgresql", "needs PostgreSQL")
class PostgresqlCodeTests(TestCase):
    def test_the_sqlstate_decides_not_the_text(self):
        err = database_error("SELECT * FROM sms_outbox_no_such_table")
        self.assertEqual(err.__cause__.sqlstate, "42P01")
        err = database_error("SELECT 1/0")  # 22012, whatever its message says
        self.assertFalse(is_missing_table(err))


@unittest.skipUnless(connection.vendor == "mysql", "needs MySQL or MariaDB")
class MysqlCodeTests(TestCase):
    def test_the_error_number_decides(self):
        err = database_error("SELECT * FROM sms_outbox_no_such_table")
        self.assertEqual(err.args[0], 1146)
        self.assertTrue(is_missing_table(err))
