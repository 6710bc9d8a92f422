"""Signature checks on both endpoints: only what the provider signed gets in."""

import hashlib
import time
from urllib.parse import urlencode

import jwt
from django.test import Client, TestCase, override_settings
from twilio.request_validator import RequestValidator

from sms.exceptions import SmsConfigurationError
from sms_outbox.models import Attempt, Message
from tests.support.receipts import (
    FORM,
    MESSAGEBIRD_PATH,
    MESSAGEBIRD_SIGNING_KEY,
    SETTINGS,
    TWILIO_AUTH_TOKEN,
    TWILIO_PATH,
    get_messagebird,
    make_row,
    messagebird_jwt,
    messagebird_query,
    post_messagebird,
    post_twilio,
    twilio_fields,
    twilio_signature,
)

SID = "SM" + "a" * 32
MB_ID = "e8077d803532c0b5937c639b60216938"
PROXY = {
    "ALLOWED_HOSTS": ["sms.example.com"],
    "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
}
PUBLIC_TWILIO = "https://sms.example.com" + TWILIO_PATH


class ReceiptTestCase(TestCase):
    def setUp(self):
        self.twilio_row = make_row(provider_message_id=SID)
        self.mb_row = make_row(recipient="+31612345678", provider_message_id=MB_ID)

    def assertNothingWritten(self):
        self.assertFalse(Attempt.objects.exists())
        self.assertFalse(
            Message.objects.exclude(delivery_status="").exists(),
            "a refused request changed a row",
        )

    def assertRecorded(self, row, status="delivered"):
        row.refresh_from_db()
        self.assertEqual(row.delivery_status, status)
        self.assertEqual(row.receipts.get().status, status)
        self.assertFalse(row.attempts_log.exists())


@override_settings(**SETTINGS)
class TwilioSignatureTests(ReceiptTestCase):
    def test_valid_signature_is_recorded(self):
        response = post_twilio(self.client, twilio_fields(SID, "delivered"))
        self.assertEqual(response.status_code, 200)
        self.assertRecorded(self.twilio_row)

    def test_signature_with_another_token_is_refused(self):
        fields = twilio_fields(SID, "delivered")
        forged = twilio_signature("http://testserver" + TWILIO_PATH, fields, "guess")
        response = self.client.post(
            TWILIO_PATH,
            urlencode(fields),
            content_type=FORM,
            HTTP_X_TWILIO_SIGNATURE=forged,
        )
        self.assertEqual(response.status_code, 403)
        self.assertNothingWritten()

    def test_missing_signature_is_refused(self):
        response = self.client.post(
            TWILIO_PATH, urlencode(twilio_fields(SID, "delivered")), content_type=FORM
        )
        self.assertEqual(response.status_code, 403)
        self.assertNothingWritten()

    def test_altered_field_is_refused(self):
        fields = twilio_fields(SID, "sent")
        signature = twilio_signature("http://testserver" + TWILIO_PATH, fields)
        fields["MessageStatus"] = "delivered"
        response = self.client.post(
            TWILIO_PATH,
            urlencode(fields),
            content_type=FORM,
            HTTP_X_TWILIO_SIGNATURE=signature,
        )
        self.assertEqual(response.status_code, 403)
        self.assertNothingWritten()

    def test_signature_for_another_url_is_refused(self):
        fields = twilio_fields(SID, "delivered")
        response = post_twilio(self.client, fields, url="http://testserver/other/")
        self.assertEqual(response.status_code, 403)
        self.assertNothingWritten()

    def test_query_string_is_part_of_the_signed_url(self):
        fields = twilio_fields(SID, "delivered")
        path = TWILIO_PATH + "?tenant=1"
        response = post_twilio(self.client, fields, path=path)
        self.assertEqual(response.status_code, 200)
        signature = twilio_signature("http://testserver" + path, fields)
        response = self.client.post(
            TWILIO_PATH + "?tenant=2",
            urlencode(fields),
            content_type=FORM,
            HTTP_X_TWILIO_SIGNATURE=signature,
        )
        self.assertEqual(response.status_code, 403)

    @override_settings(**PROXY)
    def test_https_behind_a_proxy_matches_the_public_url(self):
        response = post_twilio(
            self.client,
            twilio_fields(SID, "delivered"),
            url=PUBLIC_TWILIO,
            HTTP_HOST="sms.example.com",
            HTTP_X_FORWARDED_PROTO="https",
        )
        self.assertEqual(response.status_code, 200)
        self.assertRecorded(self.twilio_row)

    @override_settings(**PROXY)
    def test_https_signature_fails_without_the_proxy_header(self):
        response = post_twilio(
            self.client,
            twilio_fields(SID, "delivered"),
            url=PUBLIC_TWILIO,
            HTTP_HOST="sms.example.com",
        )
        self.assertEqual(response.status_code, 403)
        self.assertNothingWritten()

    @override_settings(ALLOWED_HOSTS=["sms.example.com"])
    def test_forwarded_proto_is_ignored_without_secure_proxy_ssl_header(self):
        response = post_twilio(
            self.client,
            twilio_fields(SID, "delivered"),
            url=PUBLIC_TWILIO,
            HTTP_HOST="sms.example.com",
            HTTP_X_FORWARDED_PROTO="https",
        )
        self.assertEqual(response.status_code, 403)

    @override_settings(SMS_WEBHOOK_BASE_URL="https://sms.example.com/")
    def test_webhook_base_url_pins_scheme_and_host(self):
        fields = twilio_fields(SID, "delivered")
        response = post_twilio(self.client, fields)  # signed for http://testserver
        self.assertEqual(response.status_code, 403)
        response = post_twilio(self.client, fields, url=PUBLIC_TWILIO)
        self.assertEqual(response.status_code, 200)
        self.assertRecorded(self.twilio_row)

    def test_webhook_base_url_other_than_scheme_and_host_is_a_configuration_error(
        self,
    ):
        for base in ("sms.example.com", "ftp://sms.example.com", "https://x.io/sms"):
            with (
                self.subTest(base=base),
                self.settings(SMS_WEBHOOK_BASE_URL=base),
                self.assertRaisesMessage(SmsConfigurationError, repr(base)),
            ):
                post_twilio(self.client, twilio_fields(SID, "delivered"))
        self.assertNothingWritten()

    @override_settings(TWILIO_AUTH_TOKEN=None)
    def test_missing_auth_token_is_a_configuration_error(self):
        with self.assertRaisesMessage(SmsConfigurationError, "TWILIO_AUTH_TOKEN"):
            post_twilio(self.client, twilio_fields(SID, "delivered"))
        self.assertNothingWritten()

    def test_sha256_named_in_the_settings_header_is_honoured(self):
        fields = twilio_fields(SID, "delivered")
        url = "http://testserver" + TWILIO_PATH
        signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(
            url, fields, algorithm="HMAC_SHA256"
        )
        headers = {"HTTP_X_TWILIO_SIGNATURE": signature}
        settings_header = "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"
        response = self.client.post(
            TWILIO_PATH, urlencode(fields), content_type=FORM, **headers
        )
        self.assertEqual(response.status_code, 403)  # checked as HMAC-SHA1
        response = self.client.post(
            TWILIO_PATH,
            urlencode(fields),
            content_type=FORM,
            HTTP_X_TWILIO_WEBHOOKS_SIGNATURE_SETTINGS=settings_header,
            **headers,
        )
        self.assertEqual(response.status_code, 200)

    def test_csrf_checks_do_not_apply_to_the_callback(self):
        client = Client(enforce_csrf_checks=True)
        response = post_twilio(client, twilio_fields(SID, "delivered"))
        self.assertEqual(response.status_code, 200)

    def test_other_methods_are_not_allowed(self):
        for method in ("get", "put", "patch", "delete", "head", "options"):
            with self.subTest(method=method):
                response = getattr(self.client, method)(TWILIO_PATH)
                self.assertEqual(response.status_code, 405)
                self.assertEqual(response["Allow"], "POST")
        self.assertNothingWritten()


@override_settings(**SETTINGS)
class MessageBirdSignatureTests(ReceiptTestCase):
    def query(self, status="delivered"):
        return messagebird_query(MB_ID, status)

    def test_valid_signature_is_recorded(self):
        response = get_messagebird(self.client, self.query())
        self.assertEqual(response.status_code, 200)
        self.assertRecorded(self.mb_row)

    def get_with_token(self, token, query=None):
        return self.client.get(
            f"{MESSAGEBIRD_PATH}?{query or self.query()}",
            HTTP_MESSAGEBIRD_SIGNATURE_JWT=token,
        )

    def test_token_signed_with_another_key_is_refused(self):
        url = f"http://testserver{MESSAGEBIRD_PATH}?{self.query()}"
        token = messagebird_jwt(url, key="the-access-key-is-not-the-signing-key")
        self.assertEqual(self.get_with_token(token).status_code, 403)
        self.assertNothingWritten()

    def test_missing_token_is_refused(self):
        response = self.client.get(f"{MESSAGEBIRD_PATH}?{self.query()}")
        self.assertEqual(response.status_code, 403)
        self.assertNothingWritten()

    def test_garbage_token_is_refused(self):
        self.assertEqual(self.get_with_token("not.a.jwt").status_code, 403)
        self.assertNothingWritten()

    def test_token_for_another_url_is_refused(self):
        response = get_messagebird(
            self.client, self.query(), url="http://testserver/other/"
        )
        self.assertEqual(response.status_code, 403)
        self.assertNothingWritten()

    def test_altered_query_string_is_refused(self):
        url = f"http://testserver{MESSAGEBIRD_PATH}?{self.query('sent')}"
        response = self.get_with_token(messagebird_jwt(url), self.query("delivered"))
        self.assertEqual(response.status_code, 403)
        self.assertNothingWritten()

    def test_expired_token_is_refused(self):
        url = f"http://testserver{MESSAGEBIRD_PATH}?{self.query()}"
        past = int(time.time()) - 3600
        token = messagebird_jwt(url, nbf=past - 60, exp=past)
        self.assertEqual(self.get_with_token(token).status_code, 403)
        self.assertNothingWritten()

    def test_token_from_another_issuer_is_refused(self):
        url = f"http://testserver{MESSAGEBIRD_PATH}?{self.query()}"
        token = messagebird_jwt(url, iss="Mallory")
        self.assertEqual(self.get_with_token(token).status_code, 403)

    def test_signed_token_without_url_hash_is_refused(self):
        now = int(time.time())
        claims = {"iss": "MessageBird", "nbf": now, "exp": now + 60}
        token = jwt.encode(claims, MESSAGEBIRD_SIGNING_KEY, algorithm="HS256")
        self.assertEqual(self.get_with_token(token).status_code, 403)
        self.assertNothingWritten()

    def test_posted_form_body_is_verified_and_recorded(self):
        body = self.query().encode()
        response = post_messagebird(self.client, body)
        self.assertEqual(response.status_code, 200)
        self.assertRecorded(self.mb_row)

    def test_altered_body_is_refused(self):
        token = messagebird_jwt(
            "http://testserver" + MESSAGEBIRD_PATH, self.query("sent").encode()
        )
        response = self.client.generic(
            "POST",
            MESSAGEBIRD_PATH,
            self.query("delivered").encode(),
            FORM,
            HTTP_MESSAGEBIRD_SIGNATURE_JWT=token,
        )
        self.assertEqual(response.status_code, 403)
        self.assertNothingWritten()

    def test_body_hash_without_a_body_is_refused(self):
        url = f"http://testserver{MESSAGEBIRD_PATH}?{self.query()}"
        token = messagebird_jwt(url, payload_hash=hashlib.sha256(b"x").hexdigest())
        self.assertEqual(self.get_with_token(token).status_code, 403)

    @override_settings(**PROXY)
    def test_https_behind_a_proxy_matches_the_public_url(self):
        query = self.query()
        public = f"https://sms.example.com{MESSAGEBIRD_PATH}?{query}"
        extra = {"HTTP_HOST": "sms.example.com"}
        response = get_messagebird(self.client, query, url=public, **extra)
        self.assertEqual(response.status_code, 403)
        response = get_messagebird(
            self.client, query, url=public, HTTP_X_FORWARDED_PROTO="https", **extra
        )
        self.assertEqual(response.status_code, 200)
        self.assertRecorded(self.mb_row)

    @override_settings(SMS_WEBHOOK_BASE_URL="https://sms.example.com")
    def test_webhook_base_url_pins_scheme_and_host(self):
        query = self.query()
        public = f"https://sms.example.com{MESSAGEBIRD_PATH}?{query}"
        self.assertEqual(get_messagebird(self.client, query).status_code, 403)
        response = get_messagebird(self.client, query, url=public)
        self.assertEqual(response.status_code, 200)
        self.assertRecorded(self.mb_row)

    @override_settings(MESSAGEBIRD_SIGNING_KEY=None)
    def test_missing_signing_key_is_a_configuration_error(self):
        with self.assertRaisesMessage(SmsConfigurationError, "MESSAGEBIRD_SIGNING_KEY"):
            get_messagebird(self.client, self.query())
        self.assertNothingWritten()

    def test_csrf_checks_do_not_apply_to_the_posted_report(self):
        client = Client(enforce_csrf_checks=True)
        response = post_messagebird(client, self.query().encode())
        self.assertEqual(response.status_code, 200)

    def test_other_methods_are_not_allowed(self):
        for method in ("put", "patch", "delete", "head", "options"):
            with self.subTest(method=method):
                response = getattr(self.client, method)(MESSAGEBIRD_PATH)
                self.assertEqual(response.status_code, 405)
                self.assertEqual(response["Allow"], "GET, POST")
        self.assertNothingWritten()
