"""Tests for what ProviderBackend declares for every provider backend."""

from django.core.exceptions import ImproperlyConfigured
from django.test import SimpleTestCase, override_settings

import sms
from sms.backends._provider import ProviderBackend
from sms.checks import check_backend_setting
from sms.exceptions import SmsConfigurationError, SmsImproperlyInstalled


class TableBackend(ProviderBackend):
    """A provider that only declares its tables."""

    provider = "table"
    credentials = {"api_key": "SMS_TEST_API_KEY", "secret": "SMS_TEST_SECRET"}
    options = {"sender": "SMS_TEST_SENDER"}


class OwnRequirementsBackend(TableBackend):
    required_settings = ("SMS_TEST_OTHER",)


class MissingSdkBackend(TableBackend):
    missing_sdk = ("plivo", "plivo")


PATH = "tests.backends.test_provider.TableBackend"


@override_settings(
    SMS_TEST_API_KEY="key-from-settings",
    SMS_TEST_SECRET="secret-from-settings",
    SMS_TEST_SENDER="Acme",
)
class DeclaredTablesTests(SimpleTestCase):
    def test_credentials_from_settings(self):
        backend = sms.get_connection(PATH)
        self.assertEqual(
            backend._credentials,
            {"api_key": "key-from-settings", "secret": "secret-from-settings"},
        )

    def test_keyword_beats_setting(self):
        backend = sms.get_connection(PATH, api_key="kw-key", sender="Other")
        self.assertEqual(backend._credentials["api_key"], "kw-key")
        self.assertEqual(backend.sender, "Other")

    def test_option_falls_back_to_its_setting(self):
        self.assertEqual(sms.get_connection(PATH).sender, "Acme")
        with self.settings(SMS_TEST_SENDER=None):
            self.assertIsNone(sms.get_connection(PATH).sender)

    @override_settings(SMS_TEST_SECRET="")
    def test_missing_credential_names_setting_and_keyword(self):
        with self.assertRaises(SmsConfigurationError) as caught:
            sms.get_connection(PATH)
        self.assertIsInstance(caught.exception, ImproperlyConfigured)
        self.assertEqual(
            str(caught.exception),
            "SMS_TEST_SECRET is not set: put it in your settings (from your "
            "provider's console) or pass secret= to get_connection().",
        )

    def test_required_settings_come_from_the_credentials(self):
        self.assertEqual(
            TableBackend.required_settings, ("SMS_TEST_API_KEY", "SMS_TEST_SECRET")
        )
        self.assertEqual(OwnRequirementsBackend.required_settings, ("SMS_TEST_OTHER",))

    @override_settings(SMS_BACKEND=PATH, SMS_TEST_API_KEY=None)
    def test_system_check_reports_a_missing_credential(self):
        errors = check_backend_setting("SMS_BACKEND")
        self.assertEqual([e.id for e in errors], ["sms.E003"])
        self.assertIn("SMS_TEST_API_KEY", errors[0].msg)

    def test_missing_sdk_raises_before_anything_else(self):
        with self.assertRaises(SmsImproperlyInstalled) as caught:
            MissingSdkBackend(timeout=-1)  # an invalid timeout is not reached
        self.assertEqual(
            (caught.exception.package, caught.exception.extra), ("plivo", "plivo")
        )
        self.assertIn('pip install "django-sms[plivo]"', str(caught.exception))
