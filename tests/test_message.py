"""The Message class: construction, repr, encoding, segments, length checks."""

from django.test import SimpleTestCase, override_settings

import sms
from sms.exceptions import (
    InvalidMessage,
    MessageTooLong,
    SmsConfigurationError,
    SmsSendError,
)
from sms.message import Message, RecipientResult

RECIPIENT = "+441134960000"
OTHER = "+441134960999"


class MessageTests(SimpleTestCase):
    def test_defaults(self):
        message = Message()
        self.assertEqual(message.body, "")
        self.assertEqual(message.recipients, [])
        self.assertIsNone(message.connection)
        self.assertIsNone(message.reference)
        self.assertEqual(message.results, [])

    def test_body_none_is_empty(self):
        self.assertEqual(Message(None).body, "")

    def test_tuple_recipients_stored_as_list(self):
        message = Message("x", "Shop", (RECIPIENT, OTHER))
        self.assertEqual(message.recipients, [RECIPIENT, OTHER])

    def test_repr_shows_short_body_prefix_only(self):
        body = "Your one-time code is 123456, do not share it with anyone"
        text = repr(Message(body, "+12065550100", [RECIPIENT]))
        self.assertIn("Your one-time code i", text)
        self.assertNotIn("123456", text)
        self.assertNotIn("anyone", text)

    def test_repr_masks_every_number(self):
        recipients = [RECIPIENT, OTHER, "+12065550100", "+12065550101"]
        text = repr(Message("hi", "+14155552671", recipients))
        for number in [*recipients, "+14155552671"]:
            self.assertNotIn(number, text)
        self.assertEqual(
            text,
            "<Message to ['+4411****0000', '+4411****0999', '+120****0100'] +1 "
            "body='hi'>",
        )

    def test_encoding(self):
        self.assertEqual(Message("Hello {name} €5").encoding, "GSM-7")
        self.assertEqual(Message("Привет").encoding, "UCS-2")
        self.assertEqual(Message("👍").encoding, "UCS-2")

    def test_segments_follow_body(self):
        message = Message("a" * 160)
        self.assertEqual(message.segments, 1)
        message.body += "a"
        self.assertEqual(message.segments, 2)

    @override_settings(SMS_MAX_SEGMENTS=None)
    def test_check_length_without_limit(self):
        # None set explicitly turns the cap off (get_setting() reads None as
        # unset; the limit does not).
        Message("a" * 10_000).check_length()

    def test_default_limit_is_10_parts(self):
        from django.conf import settings

        with self.settings():
            del settings.SMS_MAX_SEGMENTS
            Message("a" * 1530).check_length()  # 10 parts of 153
            with self.assertRaisesMessage(
                MessageTooLong, "needs 11 GSM-7 parts but SMS_MAX_SEGMENTS allows 10"
            ):
                Message("a" * 1531).check_length()

    def test_a_megabyte_body_is_refused_by_default(self):
        message = Message("a" * 1_000_000, "Shop", [RECIPIENT])
        with self.assertRaisesMessage(MessageTooLong, "SMS_MAX_SEGMENTS allows 10"):
            message.check_body()
        with self.assertRaises(MessageTooLong):
            message.send()

    def test_limit_is_read_at_call_time(self):
        message = Message("a" * 400)
        with self.settings(SMS_MAX_SEGMENTS=2), self.assertRaises(MessageTooLong):
            message.check_length()
        with self.settings(SMS_MAX_SEGMENTS=3):
            message.check_length()
        with self.settings(SMS_MAX_SEGMENTS=None):
            message.check_length()

    @override_settings(SMS_MAX_SEGMENTS=2)
    def test_check_length_at_limit(self):
        Message("a" * 306).check_length()

    @override_settings(SMS_MAX_SEGMENTS=2)
    def test_check_length_over_limit_raises_clear_sentence(self):
        with self.assertRaisesMessage(
            MessageTooLong,
            "The SMS body needs 3 GSM-7 parts but SMS_MAX_SEGMENTS allows 2: "
            "shorten the body or raise the setting.",
        ):
            Message("a" * 307).check_length()

    @override_settings(SMS_MAX_SEGMENTS=1)
    def test_check_length_ucs2(self):
        with self.assertRaisesMessage(MessageTooLong, "needs 2 UCS-2 parts"):
            Message("ж" * 71).check_length()

    def test_invalid_max_segments_setting(self):
        for value in ("3", 0, -1, 1.5, True):
            with self.subTest(value=value), self.settings(SMS_MAX_SEGMENTS=value):
                with self.assertRaisesMessage(
                    SmsConfigurationError, f"SMS_MAX_SEGMENTS is {value!r}"
                ):
                    Message("x").check_length()

    def test_message_too_long_is_invalid_message_and_value_error(self):
        self.assertTrue(issubclass(MessageTooLong, InvalidMessage))
        self.assertTrue(issubclass(MessageTooLong, ValueError))

    def test_check_body_refuses_empty_body(self):
        for body in ("", "   ", "\n"):
            with self.subTest(body=body):
                with self.assertRaisesMessage(InvalidMessage, "The SMS body is empty"):
                    Message(body, "Shop", [RECIPIENT]).check_body()

    def test_check_body_refuses_invisible_only_body(self):
        for body in ("\u200b", "\u200d\u200b", "\ufeff", "\u2060 \u200b\n", "\u3164"):
            with self.subTest(body=ascii(body)):
                with self.assertRaisesMessage(
                    InvalidMessage,
                    "The SMS body is empty: it holds only invisible characters "
                    f"(such as U+{ord(body[0]):04X}), which show nothing on a phone.",
                ):
                    Message(body, "Shop", [RECIPIENT]).check_body()

    def test_visible_text_with_format_characters_is_fine(self):
        for body in ("\u200bHi", "👩\u200d💻", "x\ufeff"):
            with self.subTest(body=ascii(body)):
                Message(body, "Shop", [RECIPIENT]).check_body()

    @override_settings(SMS_MAX_SEGMENTS=1)
    def test_check_body_checks_length(self):
        Message("fine").check_body()
        with self.assertRaises(MessageTooLong):
            Message("a" * 161).check_body()

    def test_body_must_be_a_str(self):
        for body, name in ((b"hello", "bytes"), (12345, "int"), (["hi"], "list")):
            with self.subTest(body=body):
                with self.assertRaisesMessage(
                    TypeError, f"The SMS body must be a str, not {name}"
                ):
                    Message(body, "Shop", [RECIPIENT])

    def test_bytes_body_error_says_to_decode(self):
        with self.assertRaisesMessage(TypeError, "body.decode()"):
            Message(b"hello")

    def test_non_str_body_set_later_is_refused_before_sending(self):
        message = Message("x", "Shop", [RECIPIENT])
        message.body = b"hello"
        with self.assertRaisesMessage(TypeError, "not bytes"):
            message.check_body()
        with self.assertRaisesMessage(TypeError, "not bytes"):
            message.check_length()

    @override_settings(SMS_BACKEND="sms.backends.locmem.SmsBackend")
    def test_non_str_body_is_not_hidden_by_fail_silently(self):
        sms.outbox = []
        message = Message("x", "Shop", [RECIPIENT])
        message.body = 12345
        with self.assertRaises(TypeError):
            message.send(fail_silently=True)
        self.assertEqual(sms.outbox, [])

    def test_check_body_names_a_nul_and_where(self):
        with self.assertRaisesMessage(
            InvalidMessage,
            "The SMS body contains a NUL character (U+0000) at index 3, which "
            "cannot be sent or stored: remove it from the text.",
        ):
            Message("abc\x00def").check_body()

    def test_check_body_names_a_lone_surrogate_and_where(self):
        for body, code, index in (("x\ud800", "D800", 1), ("\udfffyz", "DFFF", 0)):
            with self.subTest(body=body):
                with self.assertRaisesMessage(
                    InvalidMessage, f"a lone surrogate (U+{code}) at index {index}"
                ):
                    Message(body).check_body()

    def test_check_body_accepts_emoji_and_other_scripts(self):
        Message("👍 Привет 你好 €").check_body()

    def test_invalid_characters_are_value_errors(self):
        with self.assertRaises(ValueError):
            Message("\x00x").check_body()

    @override_settings(SMS_BACKEND="sms.backends.locmem.SmsBackend")
    def test_a_reference_set_by_the_caller_reaches_the_backend(self):
        sms.outbox = []
        message = Message("x", "Shop", [RECIPIENT])
        message.reference = "order-42"
        message.send()
        (stored,) = sms.outbox
        self.assertIsNot(stored, message)
        self.assertEqual(stored.reference, "order-42")

    @override_settings(SMS_BACKEND="sms.backends.locmem.SmsBackend")
    def test_send_records_results(self):
        sms.outbox = []
        message = Message("x", "Shop", [RECIPIENT, OTHER])
        self.assertEqual(message.send(), 1)
        self.assertEqual([r.recipient for r in message.results], [RECIPIENT, OTHER])
        self.assertEqual({r.status for r in message.results}, {"sent"})


class RecipientResultTests(SimpleTestCase):
    def test_defaults_mean_accepted(self):
        result = RecipientResult(RECIPIENT)
        self.assertEqual(
            (result.recipient, result.message_id, result.status, result.error),
            (RECIPIENT, None, "sent", None),
        )
        self.assertIs(result.ok, True)

    def test_error_means_not_ok(self):
        error = SmsSendError("refused", provider="twilio", code=21211)
        result = RecipientResult(RECIPIENT, status="failed", error=error)
        self.assertIs(result.ok, False)
        self.assertIs(result.error, error)

    def test_equality(self):
        self.assertEqual(
            RecipientResult(RECIPIENT, "id1"), RecipientResult(RECIPIENT, "id1")
        )
        self.assertNotEqual(
            RecipientResult(RECIPIENT, "id1"), RecipientResult(RECIPIENT, "id2")
        )


class KindTests(SimpleTestCase):
    def test_kind_is_kept_and_checked(self):
        from sms import Message

        self.assertEqual(Message("Hi", kind="otp").kind, "otp")
        self.assertEqual(Message("Hi").kind, "")
        for bad in (None, 3, "x" * 33):
            with self.subTest(kind=bad), self.assertRaises(TypeError):
                Message("Hi", kind=bad)
