"""The Vonage backend: the real v4 SDK over real HTTP to a fake Vonage."""

import io
import logging

import requests
from django.core.exceptions import ImproperlyConfigured
from django.test import SimpleTestCase, override_settings
from vonage_http_client.errors import HttpRequestError
from vonage_sms.errors import SmsError

import sms
from sms.exceptions import (
    InvalidPhoneNumber,
    ProviderAccountError,
    ProviderThrottled,
    ProviderUnavailable,
    RecipientOptedOut,
    RecipientRejected,
    SmsConfigurationError,
)
from sms.testing import (
    ORIGINATOR,
    OTHER_RECIPIENT,
    RECIPIENT,
    BaseSmsBackendTests,
    FakeVonage,
    Reply,
)
from tests.backends.provider_mixin import (
    ContractMixin,
    LogLeakTestsMixin,
    ProviderTestCase,
    TransportTestsMixin,
    basic_auth,
)
from tests.support.processes import run_python

BACKEND = "sms.backends.vonage.SmsBackend"


class VonageTestCase(ProviderTestCase):
    """Serve a fake Vonage for the class; key and secret in settings per test."""

    backend_path = BACKEND
    provider = "vonage"
    fake_class = FakeVonage

    def credential_settings(self):
        return {
            "VONAGE_API_KEY": self.fake.api_key,
            "VONAGE_API_SECRET": self.fake.api_secret,
        }


class VonageBackendContractTests(ContractMixin, BaseSmsBackendTests, VonageTestCase):
    sms_backend = BACKEND

    def get_outbox_content(self):
        return [
            sms.Message(m["text"], "+" + m["from"], ["+" + m["to"]])
            for m in self.fake.messages
        ]


class VonageWireTests(VonageTestCase):
    def test_one_recipient_on_the_wire(self):
        message, send = self.send([RECIPIENT], body="Hi there")
        self.assertEqual(send(), 1)
        [request] = self.fake.requests
        self.assertEqual((request.method, request.path), ("POST", "/sms/json"))
        self.assertEqual(request.basic_auth, (self.fake.api_key, self.fake.api_secret))
        self.assertEqual(
            request.form,
            {"to": RECIPIENT[1:], "from": ORIGINATOR[1:], "text": "Hi there"},
        )
        [result] = message.results
        self.assertEqual(
            (result.recipient, result.message_id, result.status, result.error),
            (RECIPIENT, self.fake.messages[0]["id"], "sent", None),
        )

    def test_unicode_body_is_sent_as_unicode(self):
        self.send([RECIPIENT], body="Grüße 👍")[1]()
        self.assertEqual(self.fake.requests[0].form["type"], "unicode")

    def test_reference_and_callback(self):
        callback = "https://example.com/sms/receipts/vonage/"
        message = sms.Message("ref", ORIGINATOR, [RECIPIENT], self.backend())
        message.reference = "a" * 32
        with self.settings(SMS_STATUS_CALLBACK_URL=callback):
            message.connection = self.backend()
            message.send()
        form = self.fake.requests[0].form
        self.assertEqual(form["client-ref"], "a" * 32)
        self.assertEqual(form["callback"], callback)
        self.assertEqual(form["status-report-req"], "True")

    def test_one_pooled_connection_for_many_sends(self):
        backend = self.backend()
        for body in ("one", "two", "three"):
            sms.Message(body, ORIGINATOR, [RECIPIENT, OTHER_RECIPIENT], backend).send()
        self.assertEqual(len(self.fake.messages), 6)
        self.assertEqual(self.fake.connections, 1)

    def test_timeout_from_setting_and_keyword(self):
        with self.settings(SMS_TIMEOUT=3):
            self.assertEqual(self.backend().session.timeout, 3)
            self.assertEqual(self.backend(timeout=0.5).session.timeout, 0.5)


class VonageErrorTests(TransportTestsMixin, VonageTestCase):
    late_reply = Reply(200, {}, delay=1.0)
    refused_cause = dropped_cause = requests.ConnectionError
    timeout_cause = requests.ReadTimeout

    def test_invalid_number_status_3_is_this_recipient_only(self):
        self.fake.script(FakeVonage.error("3", f"Invalid to address {RECIPIENT[1:]}"))
        message, error = self.assertSendError(
            RecipientRejected, "3", [RECIPIENT, OTHER_RECIPIENT]
        )
        self.assertIsInstance(error.__cause__, SmsError)
        self.assertNotIn(RECIPIENT[1:], str(error))
        self.assertNotIn(RECIPIENT[1:], str(error.__cause__))
        self.assertTrue(message.results[1].ok)

    def test_barred_number_status_7_is_an_opt_out(self):
        self.fake.script(FakeVonage.error("7", "Number barred"))
        _, error = self.assertSendError(RecipientOptedOut, "7")
        self.assertIn("Number barred", str(error))

    def test_throttled_status_1_is_retryable(self):
        self.fake.script(FakeVonage.error("1", "Throughput Rate Exceeded"))
        _, error = self.assertSendError(ProviderThrottled, "1")
        self.assertTrue(error.retryable)

    def test_bad_credentials_status_4_stop_everything(self):
        messages = [
            sms.Message("a", ORIGINATOR, [RECIPIENT, OTHER_RECIPIENT]),
            sms.Message("b", ORIGINATOR, [RECIPIENT]),
        ]
        with self.assertRaises(ProviderAccountError) as caught:
            self.backend(api_secret="wrong").send_messages(messages)
        self.assertEqual(caught.exception.code, "4")
        self.assertEqual(len(self.fake.requests), 1)
        self.assertEqual([r.error for r in messages[0].results], [caught.exception] * 2)
        self.assertEqual(messages[1].results, [])

    def test_http_401(self):
        self.fake.script(Reply(401, {"title": "Unauthorized"}))
        _, error = self.assertSendError(ProviderAccountError, None)
        self.assertIsInstance(error.__cause__, HttpRequestError)

    def test_5xx_is_retryable(self):
        self.fake.script(self.fake.failure_reply())
        _, error = self.assertSendError(ProviderUnavailable, None)
        self.assertIn("HTTP 500", str(error))

    def test_http_429(self):
        self.fake.script(Reply(429, {"title": "Too Many Requests"}))
        self.assertSendError(ProviderThrottled, None)

    def test_invalid_recipient_fails_without_api_call(self):
        message, send = self.send(["0600000000"])
        with self.assertRaises(RecipientRejected) as caught:
            send()
        self.assertIsInstance(caught.exception.__cause__, InvalidPhoneNumber)
        self.assertNotIn("0600000000", str(caught.exception.__cause__))
        self.assertEqual(self.fake.requests, [])

    def test_no_full_number_or_secret_in_logs_or_tracebacks(self):
        self.fake.script(FakeVonage.error("3", f"Invalid to address {RECIPIENT[1:]}"))
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        root = logging.getLogger()
        root.addHandler(handler)
        self.addCleanup(root.removeHandler, handler)
        sdk = logging.getLogger("vonage_http_client")
        self.addCleanup(sdk.setLevel, sdk.level)
        sdk.setLevel(logging.DEBUG)  # the SDK logs requests with credentials
        try:
            self.send([RECIPIENT])[1]()
        except RecipientRejected:
            logging.getLogger("tests").exception("The send failed")
        output = stream.getvalue()
        self.assertIn("Traceback", output)
        self.assertIn("vonage_sms.errors.SmsError", output)
        self.assertIn("4411****0000", output)
        self.assertNotIn(RECIPIENT[1:], output)
        self.assertNotIn(self.fake.api_secret, output)


class VonageLogTests(LogLeakTestsMixin, VonageTestCase):
    def secrets(self):
        key, secret = self.fake.api_key, self.fake.api_secret
        return [key, secret, basic_auth(key, secret)]

    def script_error_reply(self, number, body):
        # An error reply that quotes the request: the SDK logs its whole
        # text at WARNING.
        text = f"upstream error for msisdn {number[1:]} text {body!r}"
        self.fake.script(Reply(400, {"title": "Bad Request", "detail": text}))


# Provider tests touch no database: no suppression-list lookups.
@override_settings(SMS_OUTBOX_ENFORCE_OPT_OUT=False)
class VonageSetupTests(SimpleTestCase):
    def test_missing_key_names_the_setting(self):
        with self.settings(VONAGE_API_KEY=None, VONAGE_API_SECRET="s"):
            with self.assertRaisesMessage(ImproperlyConfigured, "VONAGE_API_KEY"):
                sms.get_connection(BACKEND)

    def test_missing_secret_names_the_settings(self):
        with self.settings(VONAGE_API_KEY="k"):
            with self.assertRaisesMessage(SmsConfigurationError, "VONAGE_API_SECRET"):
                sms.get_connection(BACKEND)

    def test_callback_longer_than_vonage_takes(self):
        with self.settings(VONAGE_API_KEY="k", VONAGE_API_SECRET="s"):
            with self.assertRaisesMessage(SmsConfigurationError, "100 characters"):
                sms.get_connection(
                    BACKEND, status_callback="https://example.com/" + "x" * 100
                )

    def test_missing_sdk_names_pip_install(self):
        code = (
            "import sys; sys.modules['vonage'] = None\n"
            "import django; django.setup()\n"
            "import sms.backends.vonage as v\n"
            "from sms.exceptions import SmsImproperlyInstalled\n"
            "try:\n"
            "    v.SmsBackend(api_key='k', api_secret='s')\n"
            "except SmsImproperlyInstalled as err:\n"
            "    print(err)\n"
        )
        out = run_python(code, DJANGO_SETTINGS_MODULE="tests.settings")
        self.assertIn('pip install "django-sms[vonage]"', out)
