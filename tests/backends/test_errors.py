import requests
from django.test import SimpleTestCase
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from sms.backends._errors import (
    class_for_status,
    provider_error,
    transport_error,
)
from sms.exceptions import (
    OutcomeUnknown,
    ProviderAccountError,
    ProviderThrottled,
    ProviderUnavailable,
    RecipientRejected,
)

RECIPIENT = "+441134960000"


class ClassForStatusTests(SimpleTestCase):
    def test_table(self):
        cases = {
            400: RecipientRejected,
            404: RecipientRejected,
            422: RecipientRejected,
            401: ProviderAccountError,
            403: ProviderAccountError,
            429: ProviderThrottled,
            500: ProviderUnavailable,
            503: ProviderUnavailable,
            None: ProviderUnavailable,
        }
        for status, cls in cases.items():
            with self.subTest(status):
                self.assertIs(class_for_status(status), cls)


class ProviderErrorTests(SimpleTestCase):
    def test_text_and_attributes(self):
        error = provider_error(
            RecipientRejected, "twilio", RECIPIENT, "Bad.", status=400, code=21211
        )
        self.assertEqual(
            str(error),
            "Twilio did not take the SMS to +4411****0000: Bad (HTTP 400, code 21211).",
        )
        self.assertEqual(
            (error.provider, error.code, error.recipient, error.retryable),
            ("twilio", 21211, "+4411****0000", False),
        )


class TransportErrorTests(SimpleTestCase):
    def assertMapped(self, err, cls, code):
        error = transport_error("messagebird", RECIPIENT, err)
        self.assertIs(type(error), cls)
        self.assertEqual(error.code, code)
        self.assertTrue(error.retryable)
        self.assertEqual(error.recipient, "+4411****0000")
        self.assertIn("MessageBird", str(error))

    def test_connect_timeout_never_left(self):
        self.assertMapped(
            requests.ConnectTimeout("connect timed out"),
            ProviderUnavailable,
            "connect_timeout",
        )

    def test_read_timeout_may_have_been_sent(self):
        self.assertMapped(
            requests.ReadTimeout("read timed out"), OutcomeUnknown, "timeout"
        )

    def test_refused_never_left(self):
        refused = MaxRetryError(
            None, "/messages", NewConnectionError(None, "Connection refused")
        )
        self.assertMapped(
            requests.ConnectionError(refused), ProviderUnavailable, "connection_error"
        )

    def test_aborted_mid_exchange_may_have_been_sent(self):
        aborted = ProtocolError("Connection aborted.", ConnectionResetError(104))
        self.assertMapped(
            requests.ConnectionError(aborted), OutcomeUnknown, "connection_aborted"
        )

    def test_other_request_errors(self):
        self.assertMapped(
            requests.TooManyRedirects("loop"), ProviderUnavailable, "transport_error"
        )
