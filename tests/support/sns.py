"""A fake Amazon SNS on 127.0.0.1 that signs messages the way SNS does.

It serves its signing certificate (a self-signed RSA one made here) at
``/SimpleNotificationService-f00d.pem`` and answers 200 to everything else, such as the
``SubscribeURL`` a subscription confirmation asks us to GET.
"""

import base64
import datetime
import json
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from sms.testing.server import FakeProvider, Reply
from sms_outbox.webhooks.aws import canonical_string
from tests.support.inbound import CUSTOMER, OUR_NUMBER

AWS_INBOUND = "/sms/inbound/aws/"
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:inbound-sms"


def sns_now(**ago):
    """Return the time ``ago`` (timedelta keywords) before now, as SNS writes it."""
    stamp = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(**ago)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def make_key_and_cert():
    """Return a new RSA private key and its self-signed certificate, as PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


class FakeSns(FakeProvider):
    """SNS's certificate host; ``key`` signs what ``notification()`` returns."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.key, self.cert_pem = make_key_and_cert()

    @property
    def host(self):
        """Return ``127.0.0.1:port``, for AWS_SNS_CERT_HOSTS."""
        return urlsplit(self.url).netloc

    def respond(self, request):
        if request.path == "/SimpleNotificationService-f00d.pem":
            return Reply(200, self.cert_pem, content_type="application/x-pem-file")
        return Reply(200, "<ConfirmSubscriptionResponse/>", content_type="text/xml")

    def sign(self, message, version="1", key=None):
        """Add SNS's signature fields to ``message`` (a dict) and return it."""
        message.setdefault(
            "SigningCertURL", f"{self.url}/SimpleNotificationService-f00d.pem"
        )
        message["SignatureVersion"] = version
        hasher = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = (key or self.key).sign(
            canonical_string(message), padding.PKCS1v15(), hasher
        )
        message["Signature"] = base64.b64encode(signature).decode()
        return message

    def notification(self, sms, topic=TOPIC_ARN, **more):
        """Return the signed SNS Notification that carries ``sms`` (a dict)."""
        message = {
            "Type": "Notification",
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": topic,
            "Message": json.dumps(sms),
            "Timestamp": sns_now(),
            "UnsubscribeURL": f"{self.url}/?Action=Unsubscribe",
            **more,
        }
        return self.sign(message)

    def confirmation(self, topic=TOPIC_ARN, **more):
        """Return the signed SubscriptionConfirmation for ``topic``."""
        message = {
            "Type": "SubscriptionConfirmation",
            "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92",
            "TopicArn": topic,
            "Message": f"You have chosen to subscribe to the topic {topic}.",
            "SubscribeURL": f"{self.url}/?Action=ConfirmSubscription&Token=2336",
            "Timestamp": sns_now(),
            **more,
        }
        return self.sign(message)


def inbound_sms(message_id, body, sender=CUSTOMER, **more):
    """Return the two-way SMS payload AWS publishes for an SMS to our number."""
    return {
        "originationNumber": sender,
        "destinationNumber": OUR_NUMBER,
        "messageKeyword": "KEYWORD_123456789012",
        "messageBody": body,
        "inboundMessageId": message_id,
        "previousPublishedMessageId": "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY",
        **more,
    }


def post_sns(client, message, message_type=None):
    """POST ``message`` as SNS does: JSON in a text/plain body, with the type header."""
    return client.post(
        AWS_INBOUND,
        json.dumps(message),
        content_type="text/plain; charset=UTF-8",
        HTTP_X_AMZ_SNS_MESSAGE_TYPE=message_type or message.get("Type", ""),
    )
