"""sms_outbox.W007: the AWS inbound endpoint routed with no SNS topic to accept."""

from django.core.checks import Warning
from django.test import SimpleTestCase, override_settings

from sms_outbox.checks import check_receipt_settings

SNS_TOPICS_WARNING = Warning(
    "AWS_SNS_INBOUND_TOPIC_ARNS is empty: inbound/aws/ refuses every SMS.",
    hint="List the ARNs of your two-way SMS SNS topics in AWS_SNS_INBOUND_TOPIC_ARNS.",
    id="sms_outbox.W007",
)

#: A URLconf without the outbox's webhooks (ROOT_URLCONF = this module).
urlpatterns = []


@override_settings(
    SMS_BACKEND="sms_outbox.backends.QueuedSmsBackend",
    SMS_OUTBOX_BACKEND="sms.backends.aws.SmsBackend",
    SMS_STATUS_CALLBACK_URL=None,
    AWS_SNS_INBOUND_TOPIC_ARNS=(),
)
class SnsTopicsCheckTests(SimpleTestCase):
    def test_aws_backend_and_routed_endpoint_without_topics(self):
        self.assertEqual(check_receipt_settings(), [SNS_TOPICS_WARNING])

    @override_settings(
        SMS_BACKEND="sms.backends.aws.SmsBackend",
        SMS_OUTBOX_BACKEND="sms.backends.locmem.SmsBackend",
    )
    def test_direct_aws_backend_without_topics(self):
        self.assertEqual(check_receipt_settings(), [SNS_TOPICS_WARNING])

    @override_settings(AWS_SNS_INBOUND_TOPIC_ARNS=["arn:aws:sns:eu-west-1:1:sms"])
    def test_topics_listed(self):
        self.assertEqual(check_receipt_settings(), [])

    @override_settings(ROOT_URLCONF="tests.outbox.test_checks_sns")
    def test_endpoint_not_routed(self):
        self.assertEqual(check_receipt_settings(), [])

    @override_settings(SMS_OUTBOX_BACKEND="sms.backends.locmem.SmsBackend")
    def test_other_backend(self):
        self.assertEqual(check_receipt_settings(), [])
