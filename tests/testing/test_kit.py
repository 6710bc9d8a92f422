"""The test kit as a third party uses it: a backend we do not ship, in a few lines."""

import os
from unittest import mock

import requests
from django.test import SimpleTestCase

import sms
from sms.backends._outcomes import Accepted, Fault
from sms.backends._provider import ProviderBackend
from sms.exceptions import ProviderUnavailable, RecipientRejected
from sms.testing import (
    ORIGINATOR,
    RECIPIENT,
    BaseSmsBackendTests,
    FakeProvider,
    Reply,
)

NO_PROXY = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


class PlivoSmsBackend(ProviderBackend):
    """A Plivo-like backend on the provider layer: a table and three small steps."""

    provider = "plivo"
    sdk_errors = (requests.HTTPError,)
    error_classes = {"invalid_dst": RecipientRejected}

    def __init__(self, fail_silently=False, **kwargs):
        super().__init__(fail_silently=fail_silently, **kwargs)
        self.client = requests.Session()

    def _send_request(self, message, originator, numbers):
        response = self.client.post(
            f"{self.api_url}/Message/",
            json={"src": originator, "dst": numbers[0], "text": message.body},
            timeout=self.timeout,
        )
        response.raise_for_status()
        return response.json()

    def _parse_response(self, answer, numbers):
        return [Accepted(answer["message_uuid"][0], "queued")]

    def _describe(self, err):
        body = err.response.json()
        return Fault(err.response.status_code, body.get("code"), body.get("error"))


class FakePlivo(FakeProvider):
    def respond(self, request):
        self.messages.append(request.json)
        return Reply(202, {"message_uuid": [f"uuid-{len(self.messages)}"]})


class PlivoBackendTests(BaseSmsBackendTests, SimpleTestCase):
    sms_backend = "tests.testing.test_kit.PlivoSmsBackend"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.enterClassContext(mock.patch.dict(os.environ, NO_PROXY))
        cls.fake = cls.enterClassContext(FakePlivo())

    def get_connection(self, **kwargs):
        return sms.get_connection(api_url=self.fake.url, **kwargs)

    def get_outbox_content(self):
        return [
            sms.Message(m["text"], m["src"], [m["dst"]]) for m in self.fake.messages
        ]

    def flush_outbox(self):
        self.fake.reset()

    def test_results_carry_the_provider_ids(self):
        message = sms.Message("ids", ORIGINATOR, [RECIPIENT], self.get_connection())
        message.send()
        self.assertEqual(
            [(r.message_id, r.status) for r in message.results], [("uuid-1", "queued")]
        )

    def test_declared_code_and_http_status_are_mapped(self):
        self.fake.script(
            Reply(400, {"code": "invalid_dst", "error": f"bad dst {RECIPIENT}"}),
            Reply(503, {"error": "down"}),
        )
        for cls, code in (
            (RecipientRejected, "invalid_dst"),
            (ProviderUnavailable, None),
        ):
            message = sms.Message("x", ORIGINATOR, [RECIPIENT], self.get_connection())
            with self.assertRaises(cls) as caught:
                message.send()
            self.assertEqual(caught.exception.code, code)
            self.assertEqual(caught.exception.provider, "plivo")
            self.assertNotIn(RECIPIENT, str(caught.exception))
            self.assertNotIn(RECIPIENT, str(caught.exception.__cause__))
