"""A provider's own opt-out error, over real HTTP, puts the number on the list.

The outbox drains through the real Vonage and AWS backends and SDKs to fake
providers on 127.0.0.1 that refuse one number as opted out.
"""

import os
from unittest import mock

from django.test import TestCase, override_settings

import sms
from sms.backends.aws import SmsBackend as AwsBackend
from sms.backends.vonage import SmsBackend as VonageBackend
from sms.exceptions import RecipientOptedOut
from sms.testing import FakeSns, FakeVonage
from sms_outbox.drain import run as engine
from sms_outbox.models import Message, Suppression

A, B = "+441134960000", "+441134960999"
QUEUED = "sms_outbox.backends.QueuedSmsBackend"
AWS_ENVIRON = {
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
    "AWS_ACCESS_KEY_ID": "AKIAFAKESNS000000000",
    "AWS_SECRET_ACCESS_KEY": "fake-sns-secret-key",
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


class FakeVonageBackend(VonageBackend):
    """The real Vonage backend; the drain builds it from the setting alone."""

    fake_url = None

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("api_url", FakeVonageBackend.fake_url)
        super().__init__(*args, **kwargs)


class FakeSnsBackend(AwsBackend):
    """The real AWS backend, pointed at ``FakeSns``."""

    fake_url = None

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("api_url", FakeSnsBackend.fake_url)
        super().__init__(*args, **kwargs)


class ProviderOptOutMixin:
    backend_class = None
    fake_class = None
    provider_settings = {}

    def setUp(self):
        self.enterContext(mock.patch.dict(os.environ, AWS_ENVIRON))
        self.fake = self.enterContext(self.fake_class())
        self.enterContext(
            mock.patch.object(self.backend_class, "fake_url", self.fake.url)
        )
        path = f"{__name__}.{self.backend_class.__name__}"
        self.enterContext(
            override_settings(SMS_OUTBOX_BACKEND=path, **self.provider_settings)
        )
        queued = sms.get_connection(QUEUED)
        sms.send_sms("Hello", "+12065550101", [A, B], connection=queued)

    def opt_out_reply(self):
        raise NotImplementedError

    @override_settings(SMS_OUTBOX_MAX_IN_FLIGHT=1)  # A's call comes first
    def test_the_opted_out_number_is_suppressed_and_the_other_sent(self):
        self.fake.script(self.opt_out_reply())  # the first call: A
        result = engine.send_queued()
        self.assertEqual((result.sent, result.failed), (1, 1))
        row = Message.objects.get(recipient=A)
        self.assertEqual((row.status, row.attempts), ("failed", 1))
        self.assertIn("RecipientOptedOut", row.last_error)
        self.assertNotIn(A, row.last_error)
        suppression = Suppression.objects.get()
        self.assertEqual(
            (suppression.phone_number, suppression.source), (A, "provider")
        )
        self.assertEqual(Message.objects.get(recipient=B).status, "sent")
        with self.assertRaises(RecipientOptedOut):
            sms.send_sms("Again", "Acme", [A], connection=sms.get_connection(QUEUED))


class VonageOptOutTests(ProviderOptOutMixin, TestCase):
    backend_class = FakeVonageBackend
    fake_class = FakeVonage
    provider_settings = {
        "VONAGE_API_KEY": "fakekey1",
        "VONAGE_API_SECRET": "fake-vonage-secret-3a1",
    }

    def opt_out_reply(self):
        return FakeVonage.error("7", "Number barred")


class AwsOptOutTests(ProviderOptOutMixin, TestCase):
    backend_class = FakeSnsBackend
    fake_class = FakeSns
    provider_settings = {"AWS_SMS_REGION": "eu-west-1"}

    def opt_out_reply(self):
        return FakeSns.error(400, "OptedOut", "Phone number is opted out.")
