"""The facade: get_connection, send_sms, send_mass_sms and their error paths."""

import io
import textwrap
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.test import SimpleTestCase, override_settings

import sms
from sms.backends import console, dummy, locmem
from sms.backends.base import BaseSmsBackend
from sms.exceptions import (
    MessageTooLong,
    ProviderUnavailable,
    RecipientRejected,
    SmsBackendImportError,
    SmsConfigurationError,
)
from sms.message import RecipientResult
from sms.signals import post_send
from tests.support.processes import run_python

ORIGINATOR = "+12065550100"
RECIPIENT = "+441134960000"
OTHER = "+441134960999"
ROOT = Path(__file__).resolve().parent.parent


class RecordingBackend(BaseSmsBackend):
    """Count instances and remember what each was asked to send."""

    instances = []

    def __init__(self, fail_silently=False, **kwargs):
        super().__init__(fail_silently=fail_silently, **kwargs)
        self.kwargs = kwargs
        self.sent = []
        RecordingBackend.instances.append(self)

    def send_messages(self, messages):
        self.sent.extend(messages)
        for message in messages:
            message.results = [RecipientResult(r) for r in message.recipients]
        return len(messages)


class PartlyFailingBackend(BaseSmsBackend):
    """Reject OTHER, honouring fail_silently as the contract asks."""

    def send_messages(self, messages):
        count = 0
        for message in messages:
            message.results = [
                RecipientResult(
                    r, status="failed", error=RecipientRejected("no", recipient=r)
                )
                if r == OTHER
                else RecipientResult(r)
                for r in message.recipients
            ]
            if all(result.ok for result in message.results):
                count += 1
            elif not self.fail_silently:
                raise message.results[-1].error
        return count


class RaisingBackend(BaseSmsBackend):
    """A 0.7.0-style custom backend that raises whatever fail_silently says."""

    error = ProviderUnavailable("provider down")

    def send_messages(self, messages):
        raise self.error


class BrokenBackend(RaisingBackend):
    error = RuntimeError("a bug, not an SMS error")


class GetConnectionTests(SimpleTestCase):
    def setUp(self):
        RecordingBackend.instances = []

    @override_settings(SMS_BACKEND="sms.backends.dummy.SmsBackend")
    def test_default_from_setting(self):
        self.assertIsInstance(sms.get_connection(), dummy.SmsBackend)

    def test_setting_read_at_every_call(self):
        with self.settings(SMS_BACKEND="sms.backends.dummy.SmsBackend"):
            self.assertIsInstance(sms.get_connection(), dummy.SmsBackend)
        with self.settings(SMS_BACKEND="sms.backends.locmem.SmsBackend"):
            self.assertIsInstance(sms.get_connection(), locmem.SmsBackend)

    def test_backend_argument_beats_setting(self):
        connection = sms.get_connection("sms.backends.console.SmsBackend")
        self.assertIsInstance(connection, console.SmsBackend)

    def test_fail_silently_and_kwargs_reach_constructor(self):
        stream = io.StringIO()
        connection = sms.get_connection(
            "tests.test_api.RecordingBackend", True, stream=stream, token="t"
        )
        self.assertIs(connection.fail_silently, True)
        self.assertEqual(connection.kwargs, {"stream": stream, "token": "t"})

    def test_unknown_module(self):
        path = "sms.backends.nope.SmsBackend"
        with self.assertRaises(SmsBackendImportError) as ctx:
            sms.get_connection(path)
        self.assertIsInstance(ctx.exception, ImportError)
        self.assertIsInstance(ctx.exception, ImproperlyConfigured)
        self.assertEqual(
            str(ctx.exception),
            "The SMS backend 'sms.backends.nope.SmsBackend' cannot be imported "
            "(No module named 'sms.backends.nope'): check the dotted path in "
            "SMS_BACKEND or the backend argument.",
        )

    def test_unknown_class(self):
        with self.assertRaisesMessage(
            ImportError, "'sms.backends.console.Nope' cannot be imported"
        ):
            sms.get_connection("sms.backends.console.Nope")

    @override_settings(SMS_BACKEND="not-a-dotted-path")
    def test_setting_not_a_dotted_path(self):
        with self.assertRaisesMessage(ImportError, "'not-a-dotted-path'"):
            sms.get_connection()

    def test_sms_backend_missing(self):
        for value in (None, ""):
            with self.subTest(value=value), self.settings(SMS_BACKEND=value):
                with self.assertRaisesMessage(
                    SmsConfigurationError,
                    "SMS_BACKEND is not set: set it to a backend path such as "
                    "'sms.backends.console.SmsBackend' or an alias of SMS_PROVIDERS, "
                    "or pass backend= to get_connection().",
                ):
                    sms.get_connection()

    def test_settings_not_configured(self):
        code = textwrap.dedent(
            """
            import sms
            from sms.exceptions import SmsConfigurationError
            try:
                sms.get_connection()
            except SmsConfigurationError as err:
                print("refused:", err)
            print(sms.get_connection("sms.backends.dummy.SmsBackend"))
            """
        )
        out = run_python(code)
        self.assertIn("refused: SMS_BACKEND is not set", out)
        self.assertIn("sms.backends.dummy.SmsBackend object", out)


@override_settings(SMS_BACKEND="sms.backends.locmem.SmsBackend")
class SendSmsTests(SimpleTestCase):
    def setUp(self):
        sms.outbox = []
        RecordingBackend.instances = []

    def test_returns_one(self):
        self.assertEqual(sms.send_sms("hi", ORIGINATOR, [RECIPIENT, OTHER]), 1)
        self.assertEqual(sms.outbox[0].recipients, [RECIPIENT, OTHER])

    def test_single_string_recipient(self):
        sms.send_sms("hi", ORIGINATOR, RECIPIENT)
        self.assertEqual(sms.outbox[0].recipients, [RECIPIENT])

    def test_no_recipients(self):
        self.assertEqual(sms.send_sms("hi", ORIGINATOR, None), 0)
        self.assertEqual(sms.send_sms("hi", ORIGINATOR, []), 0)
        self.assertEqual(sms.outbox, [])

    def test_connection_argument(self):
        connection = RecordingBackend()
        sms.send_sms("hi", ORIGINATOR, [RECIPIENT], connection=connection)
        self.assertEqual([m.body for m in connection.sent], ["hi"])
        self.assertEqual(sms.outbox, [])

    def test_fail_silently_reaches_new_connection(self):
        with self.settings(SMS_BACKEND="tests.test_api.RecordingBackend"):
            sms.send_sms("hi", ORIGINATOR, [RECIPIENT], fail_silently=True)
        self.assertIs(RecordingBackend.instances[0].fail_silently, True)

    def test_partial_failure_is_not_counted(self):
        connection = PartlyFailingBackend(fail_silently=True)
        count = sms.send_sms(
            "hi", ORIGINATOR, [RECIPIENT, OTHER], connection=connection
        )
        self.assertEqual(count, 0)

    def test_partial_failure_raises(self):
        with self.assertRaises(RecipientRejected):
            sms.send_sms(
                "hi", ORIGINATOR, [RECIPIENT, OTHER], connection=PartlyFailingBackend()
            )

    def test_fail_silently_swallows_sms_error_from_any_backend(self):
        connection = RaisingBackend(fail_silently=True)
        with self.assertLogs("sms.message", "WARNING"):
            self.assertEqual(
                sms.send_sms("hi", ORIGINATOR, [RECIPIENT], connection=connection), 0
            )

    def test_sms_error_raised_without_fail_silently(self):
        with self.assertRaisesMessage(ProviderUnavailable, "provider down"):
            sms.send_sms("hi", ORIGINATOR, [RECIPIENT], connection=RaisingBackend())

    def test_fail_silently_does_not_swallow_other_errors(self):
        connection = BrokenBackend(fail_silently=True)
        with self.assertRaisesMessage(RuntimeError, "a bug, not an SMS error"):
            sms.send_sms("hi", ORIGINATOR, [RECIPIENT], connection=connection)

    def test_fail_silently_does_not_swallow_configuration_errors(self):
        with self.settings(SMS_BACKEND="sms.backends.nope.SmsBackend"):
            with self.assertRaises(SmsConfigurationError):
                sms.send_sms("hi", ORIGINATOR, [RECIPIENT], fail_silently=True)
        with self.settings(SMS_MAX_SEGMENTS="2"):
            with self.assertRaises(SmsConfigurationError):
                sms.send_sms("hi", ORIGINATOR, [RECIPIENT], fail_silently=True)

    @override_settings(SMS_MAX_SEGMENTS=1)
    def test_max_segments(self):
        with self.assertRaisesMessage(
            MessageTooLong, "needs 2 GSM-7 parts but SMS_MAX_SEGMENTS allows 1"
        ):
            sms.send_sms("a" * 161, ORIGINATOR, [RECIPIENT])
        self.assertEqual(sms.send_sms("a" * 161, ORIGINATOR, [RECIPIENT], True), 0)
        self.assertEqual(sms.send_sms("a" * 160, ORIGINATOR, [RECIPIENT]), 1)
        self.assertEqual([m.body for m in sms.outbox], ["a" * 160])


@override_settings(SMS_BACKEND="tests.test_api.RecordingBackend")
class SendMassSmsTests(SimpleTestCase):
    def setUp(self):
        RecordingBackend.instances = []

    def test_one_connection_for_all(self):
        count = sms.send_mass_sms(
            [
                ("one", ORIGINATOR, [RECIPIENT]),
                ("two", None, (RECIPIENT, OTHER)),
                ("three", "Shop", OTHER),
            ]
        )
        self.assertEqual(count, 3)
        (connection,) = RecordingBackend.instances
        self.assertEqual(
            [(m.body, m.originator, m.recipients) for m in connection.sent],
            [
                ("one", ORIGINATOR, [RECIPIENT]),
                ("two", "", [RECIPIENT, OTHER]),
                ("three", "Shop", [OTHER]),
            ],
        )

    def test_connection_argument(self):
        connection = RecordingBackend()
        sms.send_mass_sms([("one", ORIGINATOR, [RECIPIENT])], connection=connection)
        self.assertEqual(RecordingBackend.instances, [connection])
        self.assertEqual(len(connection.sent), 1)

    def test_fail_silently_reaches_connection(self):
        sms.send_mass_sms([("one", ORIGINATOR, [RECIPIENT])], fail_silently=True)
        self.assertIs(RecordingBackend.instances[0].fail_silently, True)

    def test_empty(self):
        self.assertEqual(sms.send_mass_sms([]), 0)
        self.assertEqual(sms.send_mass_sms([("nobody", ORIGINATOR, [])]), 0)

    def test_messages_without_recipients_skipped(self):
        count = sms.send_mass_sms(
            [("nobody", ORIGINATOR, []), ("one", ORIGINATOR, [RECIPIENT])]
        )
        self.assertEqual(count, 1)
        self.assertEqual([m.body for m in RecordingBackend.instances[0].sent], ["one"])

    def test_counts_messages_sent_in_full(self):
        count = sms.send_mass_sms(
            [
                ("ok", ORIGINATOR, [RECIPIENT]),
                ("half", ORIGINATOR, [RECIPIENT, OTHER]),
                ("ok too", ORIGINATOR, [RECIPIENT]),
            ],
            fail_silently=True,
            connection=PartlyFailingBackend(fail_silently=True),
        )
        self.assertEqual(count, 2)

    @override_settings(SMS_MAX_SEGMENTS=1)
    def test_too_long_raises_before_anything_is_sent(self):
        with self.assertRaises(MessageTooLong):
            sms.send_mass_sms(
                [("short", ORIGINATOR, [RECIPIENT]), ("a" * 161, ORIGINATOR, [OTHER])]
            )
        self.assertEqual(RecordingBackend.instances[0].sent, [])

    @override_settings(SMS_MAX_SEGMENTS=1)
    def test_too_long_skipped_when_failing_silently(self):
        count = sms.send_mass_sms(
            [("short", ORIGINATOR, [RECIPIENT]), ("a" * 161, ORIGINATOR, [OTHER])],
            fail_silently=True,
        )
        self.assertEqual(count, 1)
        self.assertEqual(
            [m.body for m in RecordingBackend.instances[0].sent], ["short"]
        )

    def test_post_send_once_per_sent_message(self):
        seen = []

        def receiver(sender, instance, **kwargs):
            seen.append(instance.body)

        post_send.connect(receiver)
        self.addCleanup(post_send.disconnect, receiver)
        sms.send_mass_sms(
            [("ok", ORIGINATOR, [RECIPIENT]), ("half", ORIGINATOR, [RECIPIENT, OTHER])],
            connection=PartlyFailingBackend(fail_silently=True),
        )
        self.assertEqual(seen, ["ok"])


class ImportTests(SimpleTestCase):
    def test_imports_without_any_sdk(self):
        modules = ["sms"]
        for name in ("twilio", "messagebird"):
            if (ROOT / "sms" / "backends" / f"{name}.py").exists():
                modules.append(f"sms.backends.{name}")
        code = (
            "import sys\n"
            "sys.modules['twilio'] = None\n"
            "sys.modules['messagebird'] = None\n"
            "sys.modules['phonenumbers'] = None\n"
            f"import {', '.join(modules)}\n"
            "import sms.phone\n"
            "print(sms.phone.phonenumbers, sms.send_sms.__name__)\n"
        )
        self.assertEqual(run_python(code), "None send_sms\n")

    def test_all(self):
        self.assertEqual(
            sorted(sms.__all__),
            sorted(
                [
                    "BaseSmsBackend",
                    "Message",
                    "RecipientResult",
                    "get_connection",
                    "send_mass_sms",
                    "send_sms",
                ]
            ),
        )
        for name in sms.__all__:
            self.assertTrue(hasattr(sms, name), name)

    def test_works_without_being_installed(self):
        code = textwrap.dedent(
            """
            import io
            from django.conf import settings
            settings.configure(
                INSTALLED_APPS=[], SMS_BACKEND="sms.backends.console.SmsBackend"
            )
            import django
            django.setup()
            from django.apps import apps
            import sms
            stream = io.StringIO()
            count = sms.send_sms(
                "Hi", "Shop", "+441134960000",
                connection=sms.get_connection(stream=stream),
            )
            print(apps.is_installed("sms"), count, stream.getvalue().splitlines()[:3])
            """
        )
        self.assertEqual(
            run_python(code), "False 1 ['from: Shop', 'to: +441134960000', 'Hi']\n"
        )
