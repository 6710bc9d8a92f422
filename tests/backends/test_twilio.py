import io
import logging
from unittest import mock

import requests
from django.core.exceptions import ImproperlyConfigured
from django.test import SimpleTestCase, override_settings
from twilio.base.exceptions import TwilioRestException, TwilioServiceException

import sms
from sms.backends import twilio as twilio_backend
from sms.checks import check_backend_setting
from sms.exceptions import (
    InvalidMessage,
    InvalidPhoneNumber,
    ProviderAccountError,
    ProviderThrottled,
    ProviderUnavailable,
    RecipientRejected,
    SmsConfigurationError,
)
from sms.signals import post_send
from sms.testing import (
    ORIGINATOR,
    OTHER_RECIPIENT,
    RECIPIENT,
    BaseSmsBackendTests,
    FakeTwilio,
    Reply,
)
from tests.backends.provider_mixin import (
    ContractMixin,
    LogLeakTestsMixin,
    ProviderTestCase,
    TransportTestsMixin,
)
from tests.support.processes import run_python

BACKEND = "sms.backends.twilio.SmsBackend"


class TwilioTestCase(ProviderTestCase):
    """Serve a fake Twilio for the class; credentials in settings per test."""

    backend_path = BACKEND
    provider = "twilio"
    fake_class = FakeTwilio

    def credential_settings(self):
        return {
            "TWILIO_ACCOUNT_SID": self.fake.account_sid,
            "TWILIO_AUTH_TOKEN": self.fake.auth_token,
        }


class TwilioBackendContractTests(ContractMixin, BaseSmsBackendTests, TwilioTestCase):
    sms_backend = BACKEND

    def get_outbox_content(self):
        return [
            sms.Message(m["body"], m["from"], [m["to"]]) for m in self.fake.messages
        ]


class TwilioWireTests(TwilioTestCase):
    def test_one_recipient_on_the_wire(self):
        message, send = self.send([RECIPIENT], body="Hi there")
        self.assertEqual(send(), 1)
        [request] = self.fake.requests
        self.assertEqual(request.method, "POST")
        self.assertEqual(
            request.path, f"/2010-04-01/Accounts/{self.fake.account_sid}/Messages.json"
        )
        self.assertEqual(
            request.basic_auth, (self.fake.account_sid, self.fake.auth_token)
        )
        self.assertEqual(
            request.form, {"To": RECIPIENT, "From": ORIGINATOR, "Body": "Hi there"}
        )
        [result] = message.results
        self.assertEqual(result.recipient, RECIPIENT)
        self.assertEqual(result.message_id, self.fake.messages[0]["sid"])
        self.assertEqual(result.status, "queued")
        self.assertIsNone(result.error)

    def test_several_recipients_one_call_each_over_one_connection(self):
        message, send = self.send([RECIPIENT, OTHER_RECIPIENT])
        self.assertEqual(send(), 1)
        self.assertEqual([r.form["To"] for r in self.fake.requests], message.recipients)
        self.assertEqual(self.fake.connections, 1)
        self.assertEqual(
            [r.message_id for r in message.results],
            [m["sid"] for m in self.fake.messages],
        )

    def test_numbers_are_normalised_before_sending(self):
        message, send = self.send(["+44 113 496-0000"], originator="+1 206 555 0100")
        send()
        self.assertEqual(self.fake.requests[0].form["To"], RECIPIENT)
        self.assertEqual(self.fake.requests[0].form["From"], ORIGINATOR)
        self.assertEqual(message.results[0].recipient, RECIPIENT)

    def test_status_callback_setting(self):
        with self.settings(SMS_STATUS_CALLBACK_URL="https://example.com/sms/status/"):
            self.send([RECIPIENT])[1]()
        self.assertEqual(
            self.fake.requests[0].form["StatusCallback"],
            "https://example.com/sms/status/",
        )
        [report] = self.fake.status_reports()
        self.assertEqual(report.params["MessageSid"], self.fake.messages[0]["sid"])

    def test_status_callback_keyword_wins(self):
        with self.settings(SMS_STATUS_CALLBACK_URL="https://example.com/setting/"):
            self.send([RECIPIENT], status_callback="https://example.com/kw/")[1]()
        self.assertEqual(
            self.fake.requests[0].form["StatusCallback"], "https://example.com/kw/"
        )

    def test_messaging_service_replaces_from(self):
        sid = "MG" + "1" * 32
        with self.settings(TWILIO_MESSAGING_SERVICE_SID=sid):
            message, send = self.send([RECIPIENT], originator="")
            self.assertEqual(send(), 1)
        self.assertEqual(
            self.fake.requests[0].form,
            {"To": RECIPIENT, "MessagingServiceSid": sid, "Body": "Hello"},
        )
        self.assertEqual(message.results[0].status, "accepted")

    def test_keyword_credentials_win_over_settings(self):
        fake = self.enterContext(FakeTwilio(account_sid="AC" + "9" * 32))
        backend = sms.get_connection(
            BACKEND,
            api_url=fake.url,
            account_sid=fake.account_sid,
            auth_token=fake.auth_token,
        )
        sms.Message("kw", ORIGINATOR, [RECIPIENT], backend).send()
        self.assertEqual(
            fake.requests[0].basic_auth, (fake.account_sid, fake.auth_token)
        )

    def test_message_without_recipients_is_not_counted(self):
        messages = [
            sms.Message("none", ORIGINATOR),
            sms.Message("one", ORIGINATOR, [RECIPIENT]),
        ]
        self.assertEqual(self.backend().send_messages(messages), 1)
        self.assertEqual(len(self.fake.requests), 1)

    def test_api_url_with_trailing_slash(self):
        self.send([RECIPIENT], api_url=self.fake.url + "/")[1]()
        self.assertTrue(self.fake.requests[0].path.startswith("/2010-04-01/"))


class TwilioErrorTests(TransportTestsMixin, TwilioTestCase):
    late_reply = Reply(201, {"sid": "SMlate"}, delay=1.0)
    refused_cause = dropped_cause = requests.ConnectionError
    timeout_cause = requests.ReadTimeout

    def test_invalid_number_code_21211(self):
        self.fake.script(
            FakeTwilio.error(
                400, 21211, f"The 'To' number {RECIPIENT} is not a valid phone number."
            )
        )
        message, error = self.assertSendError(
            RecipientRejected, 21211, [RECIPIENT, OTHER_RECIPIENT]
        )
        self.assertFalse(error.retryable)
        self.assertIsInstance(error.__cause__, TwilioRestException)
        self.assertNotIn(RECIPIENT, str(error))
        self.assertIn("+4411****0000", str(error))
        self.assertEqual(message.results[0].status, "rejected")
        # A wrong number does not stop the others.
        self.assertEqual(len(self.fake.requests), 2)
        self.assertIsNone(message.results[1].error)
        self.assertEqual(message.results[1].message_id, self.fake.messages[0]["sid"])

    def test_wrong_credentials_401_stop_everything(self):
        messages = [
            sms.Message("a", ORIGINATOR, [RECIPIENT, OTHER_RECIPIENT]),
            sms.Message("b", ORIGINATOR, [RECIPIENT]),
        ]
        backend = self.backend(auth_token="wrong-token")
        with self.assertRaises(ProviderAccountError) as caught:
            backend.send_messages(messages)
        self.assertEqual(caught.exception.code, 20003)
        self.assertFalse(caught.exception.retryable)
        self.assertEqual(len(self.fake.requests), 1)
        self.assertEqual([r.error for r in messages[0].results], [caught.exception] * 2)
        self.assertEqual(messages[1].results, [])

    def test_rate_limited_429(self):
        self.fake.script(FakeTwilio.error(429, 20429, "Too Many Requests"))
        _, error = self.assertSendError(ProviderThrottled, 20429)
        self.assertTrue(error.retryable)

    def test_unavailable_503(self):
        self.fake.script(FakeTwilio.error(503, 20503, "Service unavailable"))
        message, error = self.assertSendError(
            ProviderUnavailable, 20503, [RECIPIENT, OTHER_RECIPIENT]
        )
        self.assertTrue(error.retryable)
        self.assertEqual(message.results[0].status, "failed")
        self.assertTrue(message.results[1].ok)

    def test_server_error_without_json(self):
        self.fake.script(Reply(500, "<html>oops</html>", content_type="text/html"))
        self.assertSendError(ProviderUnavailable, 500)

    def test_rfc_9457_problem_details(self):
        self.fake.script(
            FakeTwilio.problem(
                400, 21211, "Invalid 'To' Phone Number", f"{RECIPIENT} is invalid"
            )
        )
        _, error = self.assertSendError(RecipientRejected, 21211)
        self.assertIsInstance(error.__cause__, TwilioServiceException)
        self.assertNotIn(RECIPIENT, str(error))

    def test_rfc_9457_unavailable(self):
        self.fake.script(FakeTwilio.problem(503, 20503, "Service Unavailable"))
        self.assertSendError(ProviderUnavailable, 20503)

    def test_bad_from_is_an_account_error(self):
        self.fake.script(FakeTwilio.error(400, 21606, "Not a valid message-capable"))
        self.assertSendError(ProviderAccountError, 21606)

    def test_invalid_recipient_fails_without_api_call(self):
        message, send = self.send(["0600000000", RECIPIENT])
        with self.assertRaises(RecipientRejected) as caught:
            send()
        self.assertEqual(caught.exception.code, "invalid_number")
        self.assertIsInstance(caught.exception.__cause__, InvalidPhoneNumber)
        self.assertEqual([r.form["To"] for r in self.fake.requests], [RECIPIENT])
        self.assertEqual(
            [(r.recipient, r.ok) for r in message.results],
            [("0600000000", False), (RECIPIENT, True)],
        )

    def test_invalid_originator_sends_nothing(self):
        message, send = self.send([RECIPIENT], originator="not a sender id!")
        with self.assertRaises(RecipientRejected) as caught:
            send()
        self.assertEqual(caught.exception.code, "invalid_originator")
        self.assertEqual(self.fake.requests, [])

    def test_empty_body_sends_nothing(self):
        message, send = self.send([RECIPIENT], body="  ")
        with self.assertRaises(RecipientRejected) as caught:
            send()
        self.assertEqual(caught.exception.code, "invalid_message")
        self.assertIsInstance(caught.exception.__cause__, InvalidMessage)
        self.assertEqual(self.fake.requests, [])

    def test_fail_silently(self):
        seen = []
        post_send.connect(seen.append)
        self.addCleanup(post_send.disconnect, seen.append)
        self.fake.script(FakeTwilio.error(503, 20503, "Service unavailable"))
        backend = self.backend(fail_silently=True)
        message = sms.Message("quiet", ORIGINATOR, [RECIPIENT], backend)
        self.assertEqual(message.send(), 0)
        self.assertIsInstance(message.results[0].error, ProviderUnavailable)
        self.assertEqual(seen, [])

    def test_fail_silently_counts_only_full_sends(self):
        self.fake.script(FakeTwilio.error(400, 21211, "Invalid 'To'"))
        backend = self.backend(fail_silently=True)
        messages = [
            sms.Message("a", ORIGINATOR, [RECIPIENT]),
            sms.Message("b", ORIGINATOR, [RECIPIENT]),
        ]
        self.assertEqual(backend.send_messages(messages), 1)

    def test_fail_silently_never_hides_configuration_errors(self):
        with self.settings(SMS_BACKEND=BACKEND, TWILIO_AUTH_TOKEN=None):
            with self.assertRaises(ImproperlyConfigured):
                sms.send_sms("x", ORIGINATOR, [RECIPIENT], fail_silently=True)


class TwilioMaskingTests(TwilioTestCase):
    def test_no_token_or_full_number_in_logs_errors_or_reprs(self):
        self.fake.script(
            Reply(201, None, delay=0),  # accepted, empty body
            FakeTwilio.error(400, 21211, f"The 'To' number {OTHER_RECIPIENT} is bad"),
        )
        backend = self.backend()
        message = sms.Message("masked", ORIGINATOR, [RECIPIENT, OTHER_RECIPIENT])
        with self.assertLogs(level="DEBUG") as logs:
            with self.assertRaises(RecipientRejected) as caught:
                backend.send_messages([message])
        texts = [record.getMessage() for record in logs.records]
        texts += [str(caught.exception), repr(caught.exception)]
        texts += [repr(backend), repr(backend.client), repr(message)]
        joined = "\n".join(texts)
        self.assertNotIn(self.fake.auth_token, joined)
        self.assertNotIn(RECIPIENT, joined)
        self.assertNotIn(OTHER_RECIPIENT, joined)
        self.assertIn("+4411****0000", joined)
        self.assertIn("+4411****0999", joined)

    def test_no_full_number_in_a_logged_traceback(self):
        # The SDK's exception, chained as __cause__, quotes Twilio's text.
        self.fake.script(
            FakeTwilio.error(400, 21211, f"The 'To' number {RECIPIENT} is not valid")
        )
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        root = logging.getLogger()
        root.addHandler(handler)
        self.addCleanup(root.removeHandler, handler)
        try:
            self.send([RECIPIENT])[1]()
        except RecipientRejected:
            logging.getLogger("tests").exception("The send failed")
        output = stream.getvalue()
        self.assertIn("TwilioRestException", output)
        self.assertIn("The 'To' number +4411****0000 is not valid", output)
        self.assertNotIn(RECIPIENT, output)


class TwilioLogTests(LogLeakTestsMixin, TwilioTestCase):
    def secrets(self):
        return [self.fake.auth_token]

    def script_error_reply(self, number, body):
        self.fake.script(
            FakeTwilio.error(400, 21211, f"The 'To' number {number} for {body!r}")
        )


class TwilioConnectionTests(TwilioTestCase):
    def test_timeout_from_setting_and_keyword(self):
        with self.settings(SMS_TIMEOUT=3):
            self.assertEqual(self.backend().client.http_client.timeout, 3)
            self.assertEqual(self.backend(timeout=1.5).client.http_client.timeout, 1.5)
        self.assertEqual(self.backend().client.http_client.timeout, 10)

    def test_invalid_timeout(self):
        with self.assertRaisesMessage(SmsConfigurationError, "SMS_TIMEOUT"):
            self.backend(timeout=0)

    def test_open_and_close_one_session(self):
        backend = self.backend()
        self.assertIs(backend.open(), True)
        session = backend.client.http_client.session
        self.assertIsInstance(session, requests.Session)
        self.assertIs(backend.open(), False)
        for body in ("one", "two", "three"):
            sms.Message(body, ORIGINATOR, [RECIPIENT], backend).send()
        self.assertIs(backend.client.http_client.session, session)
        backend.close()
        self.assertIsNone(backend.client.http_client.session)
        self.assertEqual(self.fake.connections, 1)

    def test_send_closes_only_what_it_opened(self):
        backend = self.backend()
        sms.Message("a", ORIGINATOR, [RECIPIENT], backend).send()
        self.assertIsNone(backend.client.http_client.session)
        backend.open()
        sms.Message("b", ORIGINATOR, [RECIPIENT], backend).send()
        self.assertIsNotNone(backend.client.http_client.session)
        backend.close()

    def test_http_client_keyword_used_as_given(self):
        session = requests.Session()
        self.addCleanup(session.close)
        client = twilio_backend.PooledHttpClient(self.fake.url, 5, session=session)
        backend = self.backend(api_url=None, http_client=client)
        self.assertIs(backend.client.http_client, client)
        self.assertIs(backend.open(), False)
        sms.Message("given", ORIGINATOR, [RECIPIENT], backend).send()
        backend.close()
        self.assertIs(client.session, session)
        self.assertEqual(self.fake.requests[0].form["Body"], "given")

    def test_client_replaced_by_tests(self):
        calls = []

        def create(**kwargs):
            calls.append(kwargs)
            return mock.Mock(sid=f"SM{len(calls)}", status="queued")

        backend = self.backend()
        backend.client.messages.create = create
        message = sms.Message("stub", ORIGINATOR, [RECIPIENT, OTHER_RECIPIENT], backend)
        self.assertEqual(message.send(), 1)
        self.assertEqual(
            calls,
            [
                {"to": RECIPIENT, "from_": ORIGINATOR, "body": "stub"},
                {"to": OTHER_RECIPIENT, "from_": ORIGINATOR, "body": "stub"},
            ],
        )
        self.assertEqual([r.message_id for r in message.results], ["SM1", "SM2"])
        self.assertEqual(self.fake.requests, [])


# Provider tests touch no database: no suppression-list lookups.
@override_settings(SMS_OUTBOX_ENFORCE_OPT_OUT=False)
class TwilioSetupTests(SimpleTestCase):
    def test_constructs_offline_with_fake_credentials(self):
        backend = sms.get_connection(
            BACKEND, account_sid="ACfake", auth_token="fake-token"
        )
        self.assertEqual(backend.client.account_sid, "ACfake")
        self.assertIsNone(backend.client.http_client.api_url)

    def test_missing_credentials_name_the_setting(self):
        for missing in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
            values = {"TWILIO_ACCOUNT_SID": "ACfake", "TWILIO_AUTH_TOKEN": "tok"}
            values[missing] = None
            with self.subTest(missing), self.settings(**values):
                with self.assertRaisesMessage(ImproperlyConfigured, missing):
                    sms.get_connection(BACKEND)

    def test_system_check_names_missing_settings(self):
        with self.settings(SMS_BACKEND=BACKEND, TWILIO_AUTH_TOKEN=None):
            errors = check_backend_setting("SMS_BACKEND")
        self.assertEqual([e.id for e in errors], ["sms.E003", "sms.E003"])
        self.assertIn("TWILIO_ACCOUNT_SID", errors[0].msg)
        self.assertIn("TWILIO_AUTH_TOKEN", errors[1].msg)

    def test_missing_sdk_names_pip_install(self):
        code = (
            "import sys; sys.modules['twilio'] = None\n"
            "import django; django.setup()\n"
            "import sms, sms.backends.twilio as t\n"
            "from sms.exceptions import SmsImproperlyInstalled\n"
            "try:\n"
            "    t.SmsBackend(account_sid='AC', auth_token='x')\n"
            "except SmsImproperlyInstalled as err:\n"
            "    print(err)\n"
        )
        out = run_python(code, DJANGO_SETTINGS_MODULE="tests.settings")
        self.assertIn('pip install "django-sms[twilio]"', out)
