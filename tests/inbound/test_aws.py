"""Amazon's inbound SMS: signed SNS messages stored once, the rest refused."""

import json
from unittest import mock

from django.core.exceptions import BadRequest
from django.test import SimpleTestCase, TestCase, override_settings

from sms.exceptions import SmsConfigurationError
from sms.testing.server import Reply
from sms_outbox.models import InboundMessage, Suppression
from sms_outbox.signals import sms_received
from sms_outbox.webhooks import aws as sns
from sms_outbox.webhooks.aws import parse_aws_inbound
from sms_outbox.webhooks.base import MAX_BODY_BYTES
from tests.support.inbound import CUSTOMER, OUR_NUMBER
from tests.support.sns import (
    AWS_INBOUND,
    TOPIC_ARN,
    FakeSns,
    inbound_sms,
    make_key_and_cert,
    post_sns,
    sns_now,
)

MESSAGE_ID = "cae173d2-66b9-564c-8309-21f858e9fb84"


class ParseTests(SimpleTestCase):
    def test_reads_the_documented_fields(self):
        sms_in = parse_aws_inbound(json.dumps(inbound_sms(MESSAGE_ID, " Hi there ")))
        self.assertEqual(
            (sms_in.provider, sms_in.provider_message_id, sms_in.sender),
            ("aws", MESSAGE_ID, CUSTOMER),
        )
        self.assertEqual((sms_in.recipient, sms_in.body), (OUR_NUMBER, " Hi there "))

    def test_malformed_payloads_raise_bad_request(self):
        cases = {
            "not json": "STOP",
            "a list": "[]",
            "no id": json.dumps(inbound_sms("", "Hi")),
            "long id": json.dumps(inbound_sms("x" * 65, "Hi")),
            "sender": json.dumps(inbound_sms(MESSAGE_ID, "Hi", sender="nobody")),
            "number body": json.dumps(inbound_sms(MESSAGE_ID, 5)),
            "NUL": json.dumps(inbound_sms(MESSAGE_ID, "a\x00b")),
        }
        for name, text in cases.items():
            with self.subTest(name), self.assertRaises(BadRequest):
                parse_aws_inbound(text)


class SnsUrlTests(SimpleTestCase):
    def test_only_https_sns_hosts_pass(self):
        pem = "/SimpleNotificationService-f00d.pem"
        cases = {
            f"https://sns.eu-west-1.amazonaws.com{pem}": True,
            f"https://sns.cn-north-1.amazonaws.com.cn{pem}": True,
            f"https://sns.us-gov-west-1.amazonaws.com{pem}": True,
            f"http://sns.eu-west-1.amazonaws.com{pem}": False,
            f"https://sns.eu-west-1.amazonaws.com.evil.example{pem}": False,
            f"https://evil.example/sns.eu-west-1.amazonaws.com{pem}": False,
            f"https://x@sns.eu-west-1.amazonaws.com{pem}": False,
            f"https://sns.eu-west-1.amazonaws.com:8443{pem}": False,
            f"http://127.0.0.1:8000{pem}": False,
            f"https://[::1{pem}": False,
            # S3 bucket hosts serve whatever the bucket's owner uploads.
            f"https://sns.s3.amazonaws.com{pem}": False,
            f"https://sns.s3-external-1.amazonaws.com{pem}": False,
            f"https://sns.anything-at-all.amazonaws.com{pem}": False,
            f"https://sns.eu-west-1.amazonaws.com.cn{pem}": False,
        }
        for url, expected in cases.items():
            with self.subTest(url):
                self.assertIs(sns.is_sns_url(url), expected)
                self.assertIs(sns.is_sns_url(url, certificate=True), expected)

    def test_a_certificate_url_must_name_an_sns_certificate(self):
        host = "https://sns.eu-west-1.amazonaws.com"
        self.assertTrue(sns.is_sns_url(f"{host}/?Action=ConfirmSubscription"))
        for path in (
            "/cert.pem",
            "/SimpleNotificationService-.pem",
            "/x/SimpleNotificationService-ab.pem",
            "/SimpleNotificationService-ab.pem?x=1",
            "/SimpleNotificationService-ab.pem.txt",
        ):
            with self.subTest(path):
                self.assertFalse(sns.is_sns_url(host + path, certificate=True))

    @override_settings(AWS_SNS_CERT_HOSTS=["127.0.0.1:8000"])
    def test_listed_hosts_pass_over_http(self):
        self.assertTrue(
            sns.is_sns_url("http://127.0.0.1:8000/SimpleNotificationService-f00d.pem")
        )
        self.assertFalse(
            sns.is_sns_url("http://127.0.0.1:8001/SimpleNotificationService-f00d.pem")
        )
        self.assertFalse(
            sns.is_sns_url("ftp://127.0.0.1:8000/SimpleNotificationService-f00d.pem")
        )

    @override_settings(AWS_SNS_CERT_HOSTS="127.0.0.1:8000")
    def test_a_lone_string_is_a_configuration_error(self):
        message = "AWS_SNS_CERT_HOSTS is the string '127.0.0.1:8000': set it to a list"
        with self.assertRaisesMessage(SmsConfigurationError, message):
            sns.is_sns_url("http://127.0.0.1:8000/SimpleNotificationService-f00d.pem")


class AwsInboundTests(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake = FakeSns().start()
        cls.addClassCleanup(cls.fake.stop)

    def setUp(self):
        self.fake.reset()
        sns._keys.clear()
        sns._failures.clear()
        settings = override_settings(
            AWS_SNS_INBOUND_TOPIC_ARNS=[TOPIC_ARN], AWS_SNS_CERT_HOSTS=[self.fake.host]
        )
        settings.enable()
        self.addCleanup(settings.disable)
        self.received = []
        receiver = lambda **kw: self.received.append(kw)  # noqa: E731
        sms_received.connect(receiver)
        self.addCleanup(sms_received.disconnect, receiver)

    def post(self, message, **kwargs):
        with self.captureOnCommitCallbacks(execute=True):
            return post_sns(self.client, message, **kwargs)

    def assertRefused(self, response, status):
        self.assertEqual(response.status_code, status, response.content)
        self.assertFalse(InboundMessage.objects.exists())
        self.assertEqual(self.received, [])

    def test_a_signed_notification_is_stored_once_and_announced(self):
        for version in ("1", "2"):
            with self.subTest(version):
                message = self.fake.notification(inbound_sms(f"id-{version}", "Hi"))
                response = self.post(self.fake.sign(message, version=version))
                self.assertEqual((response.status_code, response.content), (200, b""))
        replay = self.post(self.fake.notification(inbound_sms("id-1", "Hi")))
        self.assertEqual(replay.status_code, 200)
        rows = InboundMessage.objects.order_by("id")
        self.assertEqual(
            [
                (r.provider, r.provider_message_id, r.sender, r.recipient, r.body)
                for r in rows
            ],
            [("aws", f"id-{v}", CUSTOMER, OUR_NUMBER, "Hi") for v in ("1", "2")],
        )
        self.assertEqual([kw["message"] for kw in self.received], list(rows))
        # The certificate was fetched once, then taken from the cache.
        self.assertEqual(
            [r.path for r in self.fake.requests],
            ["/SimpleNotificationService-f00d.pem"],
        )

    def test_stop_opts_the_sender_out(self):
        response = self.post(self.fake.notification(inbound_sms(MESSAGE_ID, "STOP")))
        self.assertEqual(response.status_code, 200)
        suppression = Suppression.objects.get()
        self.assertEqual(
            (suppression.phone_number, suppression.source), (CUSTOMER, "keyword")
        )
        self.assertEqual(InboundMessage.objects.get().action, "opt_out")

    def test_forged_or_changed_messages_are_refused(self):
        other_key, _ = make_key_and_cert()
        good = self.fake.notification(inbound_sms(MESSAGE_ID, "Hi"))
        cases = {
            "other key": self.fake.sign(dict(good), key=other_key),
            "changed": {**good, "Message": json.dumps(inbound_sms(MESSAGE_ID, "STOP"))},
            "no signature": {k: v for k, v in good.items() if k != "Signature"},
            "not base64": {**good, "Signature": "!!!"},
            "version 3": {**good, "SignatureVersion": "3"},
            "version a list": {**good, "SignatureVersion": ["1"]},
            "signature a list": {**good, "Signature": ["x"]},
            "cert URL a number": {**good, "SigningCertURL": 5},
            "v1 signed, sent as v2": {**good, "SignatureVersion": "2"},
        }
        for name, message in cases.items():
            with self.subTest(name):
                self.assertRefused(self.post(message), 403)

    def test_a_topic_not_listed_is_refused_without_fetching(self):
        other = TOPIC_ARN.replace("inbound-sms", "other")
        self.assertRefused(
            self.post(self.fake.notification(inbound_sms("a", "Hi"), topic=other)), 403
        )
        with self.settings(AWS_SNS_INBOUND_TOPIC_ARNS=[]):
            self.assertRefused(
                self.post(self.fake.notification(inbound_sms("b", "Hi"))), 403
            )
        self.assertEqual(self.fake.requests, [])

    def test_a_certificate_host_not_allowed_is_refused_without_fetching(self):
        sms = inbound_sms(MESSAGE_ID, "Hi")
        for url in (
            f"http://localhost:{self.fake.host.split(':')[1]}/SimpleNotificationService-f00d.pem",
            "http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-f00d.pem",
        ):
            with self.subTest(url):
                message = self.fake.notification(sms, SigningCertURL=url)
                self.assertRefused(self.post(message), 403)
        self.assertEqual(self.fake.requests, [])

    def test_a_certificate_that_is_not_pem_is_refused(self):
        message = self.fake.notification(inbound_sms(MESSAGE_ID, "Hi"))
        self.fake.script(Reply(200, "not a certificate"))
        self.assertRefused(self.post(message), 403)

    def test_sns_unreachable_gets_503_so_sns_retries(self):
        message = self.fake.notification(inbound_sms(MESSAGE_ID, "Hi"))
        self.fake.script(Reply(drop=True))
        self.assertRefused(self.post(message), 503)

    def test_malformed_messages_get_400(self):
        good = self.fake.notification(inbound_sms(MESSAGE_ID, "Hi"))
        cases = {
            "not json": b"STOP",
            "a list": b"[]",
            "no type": {k: v for k, v in good.items() if k != "Type"},
            "unknown type": {**good, "Type": "Surprise"},
            "number topic": {**good, "TopicArn": 5},
            "no message id": {k: v for k, v in good.items() if k != "MessageId"},
        }
        for name, message in cases.items():
            with self.subTest(name):
                if isinstance(message, bytes):
                    response = self.client.post(AWS_INBOUND, message, "text/plain")
                else:
                    response = self.post(message)
                self.assertRefused(response, 400)
        # A signed notification whose SMS inside is malformed: 400 as well.
        bad = self.fake.notification(
            inbound_sms(MESSAGE_ID, "Hi", originationNumber="x")
        )
        self.assertRefused(self.post(bad), 400)
        header = self.post(good, message_type="SubscriptionConfirmation")
        self.assertRefused(header, 400)

    def test_oversized_bodies_get_413_before_anything_reads_them(self):
        body = json.dumps({"Message": "x" * MAX_BODY_BYTES})
        response = self.client.post(AWS_INBOUND, body, "text/plain")
        self.assertRefused(response, 413)
        self.assertEqual(self.fake.requests, [])

    def test_only_post_is_allowed(self):
        self.assertEqual(self.client.get(AWS_INBOUND).status_code, 405)

    def test_a_subscription_confirmation_gets_the_subscribe_url(self):
        response = self.post(self.fake.confirmation())
        self.assertEqual(response.status_code, 200)
        self.assertEqual(
            [(r.method, r.path) for r in self.fake.requests],
            [("GET", "/SimpleNotificationService-f00d.pem"), ("GET", "/")],
        )
        self.assertEqual(self.fake.requests[1].query["Action"], ["ConfirmSubscription"])
        self.assertFalse(InboundMessage.objects.exists())

    def test_a_confirmation_for_another_topic_or_host_confirms_nothing(self):
        other = TOPIC_ARN.replace("inbound-sms", "other")
        self.assertRefused(self.post(self.fake.confirmation(topic=other)), 403)
        evil = self.fake.confirmation(SubscribeURL="https://evil.example/?Action=x")
        self.assertRefused(self.post(evil), 403)
        self.assertEqual(
            [r.path for r in self.fake.requests],
            ["/SimpleNotificationService-f00d.pem"],
        )

    def test_an_unsubscribe_confirmation_is_acknowledged(self):
        message = self.fake.confirmation(Type="UnsubscribeConfirmation")
        self.assertEqual(self.post(message).status_code, 200)
        self.assertEqual(
            [r.path for r in self.fake.requests],
            ["/SimpleNotificationService-f00d.pem"],
        )


class SnsFetchTests(TestCase):
    """What the server fetches for a message: never a redirect, never in a loop."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake = FakeSns().start()  # listed in AWS_SNS_CERT_HOSTS
        cls.addClassCleanup(cls.fake.stop)
        cls.other = FakeSns().start()  # not listed
        cls.addClassCleanup(cls.other.stop)

    def setUp(self):
        self.fake.reset()
        self.other.reset()
        sns._keys.clear()
        sns._failures.clear()
        settings = override_settings(
            AWS_SNS_INBOUND_TOPIC_ARNS=[TOPIC_ARN], AWS_SNS_CERT_HOSTS=[self.fake.host]
        )
        settings.enable()
        self.addCleanup(settings.disable)

    def post(self, message):
        with self.captureOnCommitCallbacks(execute=True):
            return post_sns(self.client, message)

    def redirect_to_other(self, path):
        return Reply(
            302,
            "",
            content_type="text/plain",
            headers={"Location": self.other.url + path},
        )

    def test_a_certificate_redirect_to_an_unlisted_host_is_not_followed(self):
        pem = "/SimpleNotificationService-f00d.pem"
        # Signed with the unlisted host's key; the certificate URL is on the
        # listed host, which redirects to the unlisted one.
        message = self.other.sign(
            self.fake.notification(inbound_sms(MESSAGE_ID, "STOP"))
        )
        self.assertEqual(message["SigningCertURL"], self.fake.url + pem)
        self.fake.script(self.redirect_to_other(pem))
        response = self.post(message)
        self.assertEqual(response.status_code, 403, response.content)
        self.assertEqual(self.other.requests, [])
        self.assertFalse(InboundMessage.objects.exists())

    def test_a_subscribe_url_redirect_is_not_followed(self):
        message = self.fake.confirmation()
        self.fake.script(None, self.redirect_to_other("/?Action=ConfirmSubscription"))
        response = self.post(message)
        self.assertEqual(response.status_code, 403, response.content)
        self.assertEqual(
            [r.path for r in self.fake.requests],
            ["/SimpleNotificationService-f00d.pem", "/"],
        )
        self.assertEqual(self.other.requests, [])

    def test_a_failed_fetch_is_not_repeated_for_the_topic_for_a_while(self):
        self.fake.script(Reply(500, "no"))
        first = self.fake.notification(inbound_sms("a", "Hi"))
        self.assertEqual(self.post(first).status_code, 503)
        # Another certificate URL, same topic: no second fetch.
        second = self.fake.notification(
            inbound_sms("b", "Hi"),
            SigningCertURL=self.fake.url + "/SimpleNotificationService-other.pem",
        )
        self.assertEqual(self.post(self.fake.sign(second)).status_code, 503)
        self.assertEqual(self.post(first).status_code, 503)
        self.assertEqual(len(self.fake.requests), 1)
        # Once the failure is forgotten, SNS's retry goes through.
        with mock.patch.object(sns, "FAILURE_TTL", 0):
            sns._failures.clear()
            self.assertEqual(self.post(first).status_code, 200)
        self.assertEqual(len(self.fake.requests), 2)
        self.assertTrue(InboundMessage.objects.filter(provider_message_id="a").exists())

    def test_a_message_more_than_an_hour_old_is_refused_without_fetching(self):
        for name, stamp in (
            ("old", sns_now(hours=1, minutes=1)),
            ("future", sns_now(minutes=-30)),
            ("not a time", "yesterday"),
        ):
            with self.subTest(name):
                message = self.fake.notification(
                    inbound_sms(MESSAGE_ID, "STOP"), Timestamp=stamp
                )
                self.assertEqual(self.post(message).status_code, 403)
        self.assertEqual(self.fake.requests, [])
        fresh = self.fake.notification(
            inbound_sms(MESSAGE_ID, "STOP"), Timestamp=sns_now(minutes=59)
        )
        self.assertEqual(self.post(fresh).status_code, 200)
