"""The MessageBird backend: the real SDK over real HTTP to a fake MessageBird."""

from unittest import mock

import requests
from django.core.exceptions import ImproperlyConfigured
from django.test import SimpleTestCase, override_settings
from messagebird.client import ErrorException
from messagebird.http_client import HttpClient

import sms
from sms.backends import messagebird as messagebird_backend
from sms.exceptions import (
    InvalidPhoneNumber,
    ProviderAccountError,
    ProviderThrottled,
    ProviderUnavailable,
    RecipientRejected,
)
from sms.testing import (
    ORIGINATOR,
    OTHER_RECIPIENT,
    RECIPIENT,
    BaseSmsBackendTests,
    FakeMessageBird,
    Reply,
)
from tests.backends.provider_mixin import (
    ContractMixin,
    LogLeakTestsMixin,
    ProviderTestCase,
    TransportTestsMixin,
)
from tests.support.processes import run_python

BACKEND = "sms.backends.messagebird.SmsBackend"
# 120 valid numbers: +44 113 496 0000 to 0119 (a range reserved for drama).
MANY = [f"+44113496{n:04d}" for n in range(120)]


class MessageBirdTestCase(ProviderTestCase):
    """Serve a fake MessageBird for the class; credentials in settings per test."""

    backend_path = BACKEND
    provider = "messagebird"
    fake_class = FakeMessageBird

    def credential_settings(self):
        return {"MESSAGEBIRD_ACCESS_KEY": self.fake.access_key}


class MessageBirdBackendContractTests(
    ContractMixin, BaseSmsBackendTests, MessageBirdTestCase
):
    sms_backend = BACKEND

    def get_outbox_content(self):
        return [
            sms.Message(m["body"], m["originator"], [recipient])
            for m in self.fake.messages
            for recipient in m["recipients"]
        ]


class MessageBirdWireTests(MessageBirdTestCase):
    def test_one_recipient_on_the_wire(self):
        message, send = self.send([RECIPIENT], body="Hi there")
        self.assertEqual(send(), 1)
        [request] = self.fake.requests
        self.assertEqual((request.method, request.path), ("POST", "/messages"))
        self.assertEqual(
            request.headers["Authorization"], f"AccessKey {self.fake.access_key}"
        )
        self.assertEqual(
            request.json,
            {"originator": ORIGINATOR, "body": "Hi there", "recipients": RECIPIENT},
        )
        [result] = message.results
        self.assertEqual(result.recipient, RECIPIENT)
        self.assertEqual(result.message_id, self.fake.messages[0]["id"])
        self.assertEqual(result.status, "sent")
        self.assertIsNone(result.error)

    def test_several_recipients_in_one_call(self):
        message, send = self.send([RECIPIENT, OTHER_RECIPIENT])
        self.assertEqual(send(), 1)
        [request] = self.fake.requests
        self.assertEqual(request.json["recipients"], f"{RECIPIENT},{OTHER_RECIPIENT}")
        self.assertEqual(
            [(r.recipient, r.message_id) for r in message.results],
            [
                (RECIPIENT, self.fake.messages[0]["id"]),
                (OTHER_RECIPIENT, self.fake.messages[0]["id"]),
            ],
        )

    def test_120_recipients_in_three_calls_over_one_connection(self):
        message, send = self.send(MANY)
        self.assertEqual(send(), 1)
        self.assertEqual(
            [len(r.json["recipients"].split(",")) for r in self.fake.requests],
            [50, 50, 20],
        )
        self.assertEqual(
            [n for r in self.fake.requests for n in r.json["recipients"].split(",")],
            MANY,
        )
        self.assertEqual(self.fake.connections, 1)
        self.assertEqual([r.recipient for r in message.results], MANY)
        ids = [m["id"] for m in self.fake.messages]
        self.assertEqual(
            [r.message_id for r in message.results],
            [ids[0]] * 50 + [ids[1]] * 50 + [ids[2]] * 20,
        )

    def test_status_callback_adds_report_url_and_reference(self):
        with self.settings(SMS_STATUS_CALLBACK_URL="https://example.com/sms/status/"):
            self.send(MANY[:60])[1]()
        first, second = (r.json for r in self.fake.requests)
        self.assertEqual(first["reportUrl"], "https://example.com/sms/status/")
        self.assertRegex(first["reference"], r"^[0-9a-f]{32}$")
        self.assertEqual(second["reference"], first["reference"])
        reports = self.fake.status_reports()
        self.assertEqual(len(reports), 60)
        self.assertEqual(reports[0].params["reference"], first["reference"])

    def test_message_reference_is_used(self):
        message = sms.Message("ref", ORIGINATOR, [RECIPIENT], self.backend())
        message.reference = "outbox-42"
        message.send()
        self.assertEqual(
            self.fake.requests[0].json,
            {
                "originator": ORIGINATOR,
                "body": "ref",
                "recipients": RECIPIENT,
                "reference": "outbox-42",
            },
        )

    def test_status_callback_keyword(self):
        self.send([RECIPIENT], status_callback="https://example.com/kw/")[1]()
        self.assertEqual(
            self.fake.requests[0].json["reportUrl"], "https://example.com/kw/"
        )

    def test_keyword_access_key_wins(self):
        fake = self.enterContext(FakeMessageBird(access_key="live_other-key"))
        backend = sms.get_connection(
            BACKEND, api_url=fake.url, access_key="live_other-key"
        )
        sms.Message("kw", ORIGINATOR, [RECIPIENT], backend).send()
        self.assertEqual(
            fake.requests[0].headers["Authorization"], "AccessKey live_other-key"
        )

    def test_api_url_keeps_its_path(self):
        client = messagebird_backend.PooledHttpClient("key", "http://127.0.0.1:9/v1")
        self.assertEqual(client.endpoint, "http://127.0.0.1:9/v1/")
        default = messagebird_backend.PooledHttpClient("key")
        self.assertEqual(default.endpoint, "https://rest.messagebird.com/")


class MessageBirdErrorTests(TransportTestsMixin, MessageBirdTestCase):
    late_reply = Reply(201, {"id": "late"}, delay=1.0)
    refused_cause = dropped_cause = requests.ConnectionError
    timeout_cause = requests.ReadTimeout

    def test_invalid_recipients_code_9(self):
        self.fake.script(
            FakeMessageBird.error(422, 9, f"no (correct) recipients: {RECIPIENT}")
        )
        _, error = self.assertSendError(RecipientRejected, 9)
        self.assertFalse(error.retryable)
        self.assertIsInstance(error.__cause__, ErrorException)
        self.assertNotIn(RECIPIENT, str(error))

    def test_rejected_chunk_does_not_stop_the_next(self):
        self.fake.script(FakeMessageBird.error(422, 10, "invalid parameter"))
        message, _ = self.assertSendError(RecipientRejected, 10, MANY[:60])
        self.assertEqual([len(m["recipients"]) for m in self.fake.messages], [10])
        self.assertEqual([r.ok for r in message.results], [False] * 50 + [True] * 10)

    def test_wrong_access_key_401_stops_everything(self):
        message, error = self.assertSendError(
            ProviderAccountError, 2, MANY, access_key="wrong"
        )
        self.assertFalse(error.retryable)
        self.assertEqual(len(self.fake.requests), 1)
        self.assertEqual(len(message.results), 120)
        self.assertFalse(any(r.ok for r in message.results))

    def test_no_balance_code_25(self):
        self.fake.script(FakeMessageBird.error(422, 25, "Not enough balance"))
        self.assertSendError(ProviderAccountError, 25)

    def test_rate_limited_429_raises_bare_http_error_in_sdk(self):
        self.fake.script(Reply(429, "Too Many Requests", content_type="text/plain"))
        _, error = self.assertSendError(ProviderThrottled, None)
        self.assertTrue(error.retryable)
        self.assertIsInstance(error.__cause__, requests.HTTPError)
        self.assertIn("HTTP 429", str(error))

    def test_unavailable_503_code_99(self):
        self.fake.script(FakeMessageBird.error(503, 99, "Internal error"))
        _, error = self.assertSendError(ProviderUnavailable, 99)
        self.assertTrue(error.retryable)

    def test_bad_request_400_code_21(self):
        self.fake.script(FakeMessageBird.error(400, 21, "Bad request"))
        self.assertSendError(RecipientRejected, 21)

    def test_invalid_recipient_fails_without_api_call(self):
        message, send = self.send([RECIPIENT, "12"])
        with self.assertRaises(RecipientRejected) as caught:
            send()
        self.assertEqual(caught.exception.code, "invalid_number")
        self.assertIsInstance(caught.exception.__cause__, InvalidPhoneNumber)
        self.assertEqual(self.fake.requests[0].json["recipients"], RECIPIENT)
        self.assertEqual([r.ok for r in message.results], [True, False])

    def test_fail_silently(self):
        self.fake.script(FakeMessageBird.error(503, 99, "Internal error"))
        backend = self.backend(fail_silently=True)
        message = sms.Message("quiet", ORIGINATOR, [RECIPIENT], backend)
        self.assertEqual(message.send(), 0)
        self.assertIsInstance(message.results[0].error, ProviderUnavailable)

    def test_fail_silently_never_hides_configuration_errors(self):
        with self.settings(SMS_BACKEND=BACKEND, MESSAGEBIRD_ACCESS_KEY=None):
            with self.assertRaisesMessage(
                ImproperlyConfigured, "MESSAGEBIRD_ACCESS_KEY"
            ):
                sms.send_sms("x", ORIGINATOR, [RECIPIENT], fail_silently=True)


class MessageBirdMaskingTests(MessageBirdTestCase):
    def test_no_key_or_full_number_in_logs_errors_or_reprs(self):
        self.fake.script(
            FakeMessageBird.error(422, 9, f"no (correct) recipients: {RECIPIENT}")
        )
        backend = self.backend()
        messages = [
            sms.Message("masked", ORIGINATOR, [RECIPIENT]),
            sms.Message("masked", ORIGINATOR, [OTHER_RECIPIENT]),
        ]
        with self.assertLogs(level="DEBUG") as logs:
            with self.assertRaises(RecipientRejected) as caught:
                backend.send_messages(messages)
        texts = [record.getMessage() for record in logs.records]
        texts += [str(caught.exception), repr(caught.exception)]
        texts += [repr(backend), repr(backend.client), repr(backend.client.http_client)]
        joined = "\n".join(texts)
        self.assertNotIn(self.fake.access_key, joined)
        self.assertNotIn(RECIPIENT, joined)
        self.assertNotIn(OTHER_RECIPIENT, joined)
        self.assertIn("+4411****0000", joined)
        self.assertIn("+4411****0999", joined)


class MessageBirdLogTests(LogLeakTestsMixin, MessageBirdTestCase):
    def secrets(self):
        return [self.fake.access_key]

    def script_error_reply(self, number, body):
        self.fake.script(
            FakeMessageBird.error(422, 9, f"no (correct) recipients: {number} {body}")
        )


class MessageBirdConnectionTests(MessageBirdTestCase):
    def test_timeout_from_setting_and_keyword(self):
        with self.settings(SMS_TIMEOUT=3):
            self.assertEqual(self.backend().client.http_client.timeout, 3)
            self.assertEqual(self.backend(timeout=2).client.http_client.timeout, 2)

    def test_open_and_close_one_session(self):
        backend = self.backend()
        self.assertIs(backend.open(), True)
        session = backend.client.http_client.session
        self.assertIs(backend.open(), False)
        for body in ("one", "two", "three"):
            sms.Message(body, ORIGINATOR, [RECIPIENT], backend).send()
        self.assertIs(backend.client.http_client.session, session)
        backend.close()
        self.assertIsNone(backend.client.http_client.session)
        self.assertEqual(self.fake.connections, 1)

    def test_http_client_keyword_used_as_given(self):
        client = HttpClient(self.fake.url + "/", self.fake.access_key, "tests")
        backend = self.backend(api_url=None, http_client=client)
        self.assertIs(backend.client.http_client, client)
        self.assertIs(backend.open(), False)
        sms.Message("given", ORIGINATOR, [RECIPIENT], backend).send()
        self.assertEqual(self.fake.requests[0].headers["User-Agent"], "tests")

    def test_client_replaced_by_tests(self):
        calls = []

        def message_create(*args):
            calls.append(args)
            return mock.Mock(id=f"mb{len(calls)}", recipients=None)

        backend = self.backend()
        backend.client.message_create = message_create
        message = sms.Message("stub", ORIGINATOR, MANY, backend)
        self.assertEqual(message.send(), 1)
        self.assertEqual(
            calls,
            [
                (ORIGINATOR, MANY[:50], "stub"),
                (ORIGINATOR, MANY[50:100], "stub"),
                (ORIGINATOR, MANY[100:], "stub"),
            ],
        )
        self.assertEqual(message.results[-1].message_id, "mb3")
        self.assertEqual(self.fake.requests, [])


# Provider tests touch no database: no suppression-list lookups.
@override_settings(SMS_OUTBOX_ENFORCE_OPT_OUT=False)
class MessageBirdSetupTests(SimpleTestCase):
    def test_constructs_offline_with_fake_credentials(self):
        backend = sms.get_connection(BACKEND, access_key="test_fake")
        self.assertEqual(backend.client.access_key, "test_fake")
        self.assertEqual(
            backend.client.http_client.endpoint, "https://rest.messagebird.com/"
        )

    def test_missing_access_key_names_the_setting(self):
        with self.settings(MESSAGEBIRD_ACCESS_KEY=None):
            with self.assertRaisesMessage(
                ImproperlyConfigured, "MESSAGEBIRD_ACCESS_KEY"
            ):
                sms.get_connection(BACKEND)

    def test_missing_sdk_names_pip_install(self):
        code = (
            "import sys; sys.modules['messagebird'] = None\n"
            "import django; django.setup()\n"
            "import sms, sms.backends.messagebird as m\n"
            "from sms.exceptions import SmsImproperlyInstalled\n"
            "try:\n"
            "    m.SmsBackend(access_key='x')\n"
            "except SmsImproperlyInstalled as err:\n"
            "    print(err)\n"
        )
        out = run_python(code, DJANGO_SETTINGS_MODULE="tests.settings")
        self.assertIn('pip install "django-sms[messagebird]"', out)
