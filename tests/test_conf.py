"""The settings table and its getter."""

from django.test import SimpleTestCase, override_settings

from sms.conf import DEFAULTS, get_setting

CORE_SETTINGS = {
    "SMS_BACKEND": None,
    "DEFAULT_FROM_SMS": "",
    "SMS_FILE_PATH": None,
    "SMS_MAX_SEGMENTS": 10,
    "SMS_DEFAULT_REGION": None,
}


class GetSettingTests(SimpleTestCase):
    def test_core_defaults(self):
        for name, default in CORE_SETTINGS.items():
            with self.subTest(name=name):
                self.assertIn(name, DEFAULTS)
                self.assertEqual(DEFAULTS[name], default)

    def test_default_when_absent(self):
        with self.settings(DEFAULT_FROM_SMS=None, SMS_MAX_SEGMENTS=None):
            self.assertEqual(get_setting("DEFAULT_FROM_SMS"), "")
            self.assertEqual(get_setting("SMS_MAX_SEGMENTS"), 10)

    def test_deleted_setting_reads_default(self):
        from django.conf import settings

        with self.settings():
            del settings.SMS_BACKEND
            self.assertIsNone(get_setting("SMS_BACKEND"))

    def test_read_at_call_time(self):
        with self.settings(DEFAULT_FROM_SMS="First"):
            self.assertEqual(get_setting("DEFAULT_FROM_SMS"), "First")
        with self.settings(DEFAULT_FROM_SMS="Second"):
            self.assertEqual(get_setting("DEFAULT_FROM_SMS"), "Second")

    @override_settings(SMS_MAX_SEGMENTS=0, DEFAULT_FROM_SMS="")
    def test_falsy_values_are_kept(self):
        self.assertEqual(get_setting("SMS_MAX_SEGMENTS"), 0)
        self.assertEqual(get_setting("DEFAULT_FROM_SMS"), "")

    def test_unknown_setting_without_default(self):
        self.assertIsNone(get_setting("SMS_NOT_A_SETTING"))

    @override_settings(SMS_NOT_A_SETTING="set")
    def test_unknown_setting_with_value(self):
        self.assertEqual(get_setting("SMS_NOT_A_SETTING"), "set")


def test_settings_module_read_before_first_access():
    # A script that only sets DJANGO_SETTINGS_MODULE gets its settings, not
    # the defaults, even before anything else touched django.conf.settings.
    from tests.support.processes import run_python

    out = run_python(
        "from django.conf import settings\n"
        "from sms.conf import get_setting\n"
        "print(settings.configured, get_setting('SMS_BACKEND'))\n",
        DJANGO_SETTINGS_MODULE="tests.settings",
    )
    assert out == "False sms.backends.locmem.SmsBackend\n"
