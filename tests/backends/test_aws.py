"""The AWS backend: boto3 over real HTTP to moto's SNS server, faults from FakeSns."""

import io
import logging
import os
import threading
from unittest import mock
from urllib.parse import parse_qs

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from django.core.exceptions import ImproperlyConfigured
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.sns.models import sns_backends
from werkzeug.serving import make_server

import sms
from sms.exceptions import (
    InvalidPhoneNumber,
    ProviderAccountError,
    ProviderThrottled,
    ProviderUnavailable,
    RecipientRejected,
    SmsConfigurationError,
)
from sms.testing import (
    ORIGINATOR,
    OTHER_RECIPIENT,
    RECIPIENT,
    BaseSmsBackendTests,
    Reply,
)
from sms.testing.fake_sns import FakeSns
from tests.backends.provider_mixin import (
    ContractMixin,
    LogLeakTestsMixin,
    ProviderTestCase,
    TransportTestsMixin,
)
from tests.support.processes import run_python

BACKEND = "sms.backends.aws.SmsBackend"
REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
ENVIRON = {
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
    "AWS_ACCESS_KEY_ID": "AKIAFAKESNS000000000",
    "AWS_SECRET_ACCESS_KEY": "fake-sns-secret-key",
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


class MotoSns:
    """moto's AWS emulator as an HTTP server on 127.0.0.1, recording Publish calls.

    ``publishes`` holds the form of every Publish that moto answered 200.
    """

    def __init__(self):
        self.publishes = []
        app = DomainDispatcherApplication(create_backend_app)

        def recording_app(environ, start_response):
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}

            def record_status(status, headers, *args):
                if form.get("Action") == "Publish" and status.startswith("200"):
                    self.publishes.append(form)
                return start_response(status, headers, *args)

            return app(environ, record_status)

        self.server = make_server(
            "127.0.0.1", 0, recording_app, True, request_handler=MotoRequestHandler
        )
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def reset(self):
        self.publishes.clear()
        sns_backends[ACCOUNT][REGION].sms_messages.clear()

    def sms_messages(self):
        """Return moto's stored SMS as (recipient, body), in order."""
        return list(sns_backends[ACCOUNT][REGION].sms_messages.values())


def setUpModule():
    global MOTO, ENV_PATCH
    ENV_PATCH = mock.patch.dict(os.environ, ENVIRON)
    ENV_PATCH.start()
    MOTO = MotoSns()


def tearDownModule():
    MOTO.stop()
    ENV_PATCH.stop()


class MotoFake:
    """What ``ProviderTestCase`` asks of its fake, for moto."""

    @property
    def url(self):
        return MOTO.url

    def reset(self):
        MOTO.reset()


class AwsTestCase(ProviderTestCase):
    """moto for the wire; ``AwsErrorTests`` serves FakeSns for faults."""

    backend_path = BACKEND
    provider = "aws"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.fake_class is None:
            cls.fake = MotoFake()

    def credential_settings(self):
        return {"AWS_SMS_REGION": REGION}


class AwsBackendContractTests(ContractMixin, BaseSmsBackendTests, AwsTestCase):
    sms_backend = BACKEND

    def get_outbox_content(self):
        stored = MOTO.sms_messages()
        self.assertEqual(len(stored), len(MOTO.publishes))
        return [
            sms.Message(
                body, form.get("MessageAttributes.entry.1.Value.StringValue"), [to]
            )
            for (to, body), form in zip(stored, MOTO.publishes, strict=True)
        ]


class AwsWireTests(AwsTestCase):
    def test_one_publish_per_recipient_over_one_connection(self):
        message, send = self.send([RECIPIENT, OTHER_RECIPIENT], body="Hi there")
        self.assertEqual(send(), 1)
        self.assertEqual(
            MOTO.sms_messages(),
            [(RECIPIENT, "Hi there"), (OTHER_RECIPIENT, "Hi there")],
        )
        self.assertEqual(
            [(p["PhoneNumber"], p["Message"]) for p in MOTO.publishes],
            [(RECIPIENT, "Hi there"), (OTHER_RECIPIENT, "Hi there")],
        )
        ids = list(sns_backends[ACCOUNT][REGION].sms_messages)
        self.assertEqual([r.message_id for r in message.results], ids)
        self.assertEqual([r.status for r in message.results], ["sent", "sent"])

    def test_number_originator_is_the_origination_number(self):
        self.send([RECIPIENT])[1]()
        [publish] = MOTO.publishes
        self.assertEqual(
            publish["MessageAttributes.entry.1.Name"], "AWS.MM.SMS.OriginationNumber"
        )
        self.assertEqual(
            publish["MessageAttributes.entry.1.Value.StringValue"], ORIGINATOR
        )

    def test_settings_sender_id_type_and_max_price(self):
        with self.settings(
            AWS_SMS_SENDER_ID="MyShop",
            AWS_SMS_TYPE="Transactional",
            AWS_SMS_MAX_PRICE="0.50",
        ):
            self.send([RECIPIENT], originator="")[1]()
        [publish] = MOTO.publishes
        attributes = {
            publish[f"MessageAttributes.entry.{n}.Name"]: (
                publish[f"MessageAttributes.entry.{n}.Value.DataType"],
                publish[f"MessageAttributes.entry.{n}.Value.StringValue"],
            )
            for n in (1, 2, 3)
        }
        self.assertEqual(
            attributes,
            {
                "AWS.SNS.SMS.SenderID": ("String", "MyShop"),
                "AWS.SNS.SMS.SMSType": ("String", "Transactional"),
                "AWS.SNS.SMS.MaxPrice": ("Number", "0.50"),
            },
        )

    def test_keywords_win_over_settings(self):
        with self.settings(AWS_SMS_SENDER_ID="Setting", AWS_SMS_TYPE="Transactional"):
            self.send([RECIPIENT], sender_id="Keyword", sms_type="Promotional")[1]()
        [publish] = MOTO.publishes
        self.assertEqual(
            publish["MessageAttributes.entry.1.Value.StringValue"], "Keyword"
        )
        self.assertEqual(
            publish["MessageAttributes.entry.2.Value.StringValue"], "Promotional"
        )

    def test_alphanumeric_originator_is_the_sender_id(self):
        self.send([RECIPIENT], originator="Shop")[1]()
        self.assertEqual(
            MOTO.publishes[0]["MessageAttributes.entry.1.Name"], "AWS.SNS.SMS.SenderID"
        )

    def test_region_and_timeout_reach_botocore(self):
        with self.settings(SMS_TIMEOUT=3):
            backend = self.backend()
        self.assertEqual(backend.client.meta.region_name, REGION)
        self.assertEqual(backend.client.meta.config.read_timeout, 3)
        self.assertEqual(backend.client.meta.config.connect_timeout, 3)
        self.assertEqual(backend.client.meta.config.retries["total_max_attempts"], 1)


class AwsSetupTests(AwsTestCase):
    def test_invalid_sms_type(self):
        with self.assertRaisesMessage(SmsConfigurationError, "AWS_SMS_TYPE"):
            self.backend(sms_type="Urgent")

    def test_no_region_names_the_setting(self):
        with (
            self.settings(AWS_SMS_REGION=None),
            mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": "", "AWS_REGION": ""}),
        ):
            with self.assertRaisesMessage(SmsConfigurationError, "AWS_SMS_REGION"):
                self.backend()

    def test_no_credentials_raise_before_sending(self):
        empty = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
        with mock.patch.dict(os.environ, empty):
            with self.assertRaisesMessage(ImproperlyConfigured, "AWS credentials"):
                self.backend()

    def test_missing_sdk_names_pip_install(self):
        code = (
            "import sys; sys.modules['boto3'] = None\n"
            "import django; django.setup()\n"
            "import sms.backends.aws as a\n"
            "from sms.exceptions import SmsImproperlyInstalled\n"
            "try:\n"
            "    a.SmsBackend()\n"
            "except SmsImproperlyInstalled as err:\n"
            "    print(err)\n"
        )
        out = run_python(code, DJANGO_SETTINGS_MODULE="tests.settings")
        self.assertIn('pip install "django-sms[aws]"', out)


class AwsErrorTests(TransportTestsMixin, AwsTestCase):
    """AWS-shaped faults over real HTTP: moto does not throttle or fail."""

    fake_class = FakeSns
    late_reply = Reply(200, "<late/>", delay=1.0)
    refused_cause = EndpointConnectionError
    timeout_cause = ReadTimeoutError
    dropped_cause = ConnectionClosedError

    def test_throttling_is_retryable(self):
        self.fake.script(FakeSns.error(400, "Throttling", "Rate exceeded"))
        _, error = self.assertSendError(ProviderThrottled, "Throttling")
        self.assertTrue(error.retryable)
        self.assertIsInstance(error.__cause__, ClientError)
        self.assertEqual(len(self.fake.requests), 1)  # botocore did not retry

    def test_5xx_is_retryable_and_does_not_stop_the_others(self):
        self.fake.script(self.fake.failure_reply())
        message, error = self.assertSendError(
            ProviderUnavailable, "InternalError", [RECIPIENT, OTHER_RECIPIENT]
        )
        self.assertIn("HTTP 500", str(error))
        self.assertEqual(message.results[0].status, "failed")
        self.assertTrue(message.results[1].ok)
        self.assertEqual(len(self.fake.requests), 2)

    def test_html_503_without_an_aws_code(self):
        self.fake.script(Reply(503, "<html>down</html>", content_type="text/html"))
        self.assertSendError(ProviderUnavailable, "503")

    def test_invalid_parameter_is_this_recipient_only(self):
        self.fake.script(
            FakeSns.error(
                400, "InvalidParameter", f"Invalid parameter: PhoneNumber {RECIPIENT}"
            )
        )
        message, error = self.assertSendError(
            RecipientRejected, "InvalidParameter", [RECIPIENT, OTHER_RECIPIENT]
        )
        self.assertFalse(error.retryable)
        self.assertNotIn(RECIPIENT, str(error))
        self.assertEqual(message.results[0].status, "rejected")
        self.assertTrue(message.results[1].ok)

    def test_bad_credentials_stop_everything(self):
        messages = [
            sms.Message("a", ORIGINATOR, [RECIPIENT, OTHER_RECIPIENT]),
            sms.Message("b", ORIGINATOR, [RECIPIENT]),
        ]
        backend = self.backend(aws_access_key_id="AKIAWRONG", aws_secret_access_key="x")
        with self.assertRaises(ProviderAccountError) as caught:
            backend.send_messages(messages)
        self.assertEqual(caught.exception.code, "InvalidClientTokenId")
        self.assertEqual(len(self.fake.requests), 1)
        self.assertEqual([r.error for r in messages[0].results], [caught.exception] * 2)
        self.assertEqual(messages[1].results, [])

    def test_authorization_error(self):
        self.fake.script(FakeSns.error(403, "AuthorizationError", "Not allowed"))
        self.assertSendError(ProviderAccountError, "AuthorizationError")

    def test_invalid_number_sends_nothing(self):
        message, send = self.send(["0600000000"])
        with self.assertRaises(RecipientRejected) as caught:
            send()
        self.assertIsInstance(caught.exception.__cause__, InvalidPhoneNumber)
        self.assertEqual(self.fake.requests, [])

    def test_pooled_connection_for_many_sends(self):
        backend = self.backend()
        for n in range(5):
            sms.Message(f"n{n}", ORIGINATOR, [RECIPIENT], backend).send()
        self.assertEqual(self.fake.connections, 1)
        self.assertEqual(len(self.fake.messages), 5)

    def test_no_full_number_in_a_logged_traceback(self):
        self.fake.script(
            FakeSns.error(
                400, "InvalidParameter", f"Invalid parameter: PhoneNumber {RECIPIENT}"
            )
        )
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        root = logging.getLogger()
        root.addHandler(handler)
        self.addCleanup(root.removeHandler, handler)
        botocore = logging.getLogger("botocore")
        self.addCleanup(botocore.setLevel, botocore.level)
        botocore.setLevel(logging.DEBUG)  # botocore logs the request's parameters
        try:
            self.send([RECIPIENT])[1]()
        except RecipientRejected:
            logging.getLogger("tests").exception("The send failed")
        output = stream.getvalue()
        self.assertIn("Making request for OperationModel(name=Publish)", output)
        self.assertIn("Traceback", output)
        self.assertIn("InvalidParameterException", output)
        self.assertIn("+4411****0000", output)
        self.assertNotIn(RECIPIENT, output)


class AwsLogTests(LogLeakTestsMixin, AwsTestCase):
    """boto3 to moto for the sends, to FakeSns for the error reply."""

    access_key = "AKIALEAKTESTKEYEXAMPLE"
    secret_key = "leak/Test+SecretKey/EXAMPLEKEY"

    def setUp(self):
        super().setUp()
        self.sns = self.enterContext(
            FakeSns(access_key=self.access_key, secret_key=self.secret_key)
        )

    def backend(self, **kwargs):
        kwargs.setdefault("aws_access_key_id", self.access_key)
        kwargs.setdefault("aws_secret_access_key", self.secret_key)
        return super().backend(**kwargs)

    def error_backend(self):
        return self.backend(api_url=self.sns.url)

    def secrets(self):
        return [self.access_key, self.secret_key]

    def script_error_reply(self, number, body):
        text = f"Invalid parameter: PhoneNumber {number} for {body}"
        self.sns.script(FakeSns.error(400, "InvalidParameter", text))
