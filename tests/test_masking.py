"""sms.masking: numbers, credentials and bodies masked in texts and log records."""

import io
import logging

from django.test import SimpleTestCase

from sms.masking import MaskNumbers, hide, install_filter, mask_text, unhide


class MaskTextTests(SimpleTestCase):
    def test_numbers_in_provider_text_are_masked(self):
        self.assertEqual(
            mask_text("The 'To' number +441134960000 is not valid; nor 14155552671."),
            "The 'To' number +4411****0000 is not valid; nor 141****2671.",
        )

    def test_short_codes_and_error_codes_stay(self):
        self.assertEqual(mask_text("code 21211 from 12345"), "code 21211 from 12345")

    def test_numbers_written_with_separators_are_masked(self):
        cases = [
            "+44 113 496 0777",
            "+44-113-496-0777",
            "+44.113.496.0777",
            "+44 (0)113 496 0777",
            "(0113) 496-0777",
            "+1 (206) 555-0100",
            "0113 496 0777",
            "%2B441134960777",
        ]
        for number in cases:
            with self.subTest(number):
                masked = mask_text(f"Invalid number {number}: rejected")
                self.assertNotIn(number, masked)
                self.assertNotIn("496", masked.replace("%2B", ""))
                self.assertTrue(masked.startswith("Invalid number "), masked)
                self.assertTrue(masked.endswith(": rejected"), masked)

    def test_what_is_clearly_not_a_number_stays(self):
        texts = [
            "HTTP 400 (code 21211)",
            "error 21610 at 2024-01-15 10:30:45",
            "2024-01-15T10:30:45Z",
            "15.01.2024 10:30",
            "sent 3 of 5 parts, status 503",
            "from 192.168.100.200 port 8080",
            "SDK 4.9.1, retry in 60 s",
            "status 0 for part 1 of 2",
            "X-Amz-Date: 20240115T103045Z",
        ]
        for text in texts:
            with self.subTest(text):
                self.assertEqual(mask_text(text), text)

    def test_a_number_next_to_a_date_is_still_masked(self):
        masked = mask_text("2024-01-15 refused +44 113 496 0777")
        self.assertEqual(masked, "2024-01-15 refused +44 1*******0777")

    def test_numbers_in_a_row_are_all_masked(self):
        masked = mask_text("to +44 113 496 0777 0113 496 0778 failed")
        self.assertNotIn("496 0777", masked)
        self.assertNotIn("0113 496", masked)

    def test_authorization_values_are_masked(self):
        text = (
            "headers: {'Authorization': 'Basic ZmFrZWtleTE6c2VjcmV0'} "
            "AccessKey live_abcdef123 Credential=AKIAEXAMPLEKEY/20240115/eu-west-1"
        )
        masked = mask_text(text)
        for secret in ("ZmFrZWtleTE6c2VjcmV0", "live_abcdef123", "AKIAEXAMPLEKEY"):
            self.assertNotIn(secret, masked)
        self.assertIn("Basic [hidden]", masked)
        self.assertIn("Credential=[hidden]/20240115", masked)

    def test_hidden_texts_in_every_encoding(self):
        body = "Your code: 4821 & more"
        token = hide([body, "s3cr3t-token", None, "ab"])
        self.addCleanup(unhide, token)
        text = (
            f"raw {body} | repr {body!r} | form Your+code%3A+4821+%26+more "
            "| token s3cr3t-token | short ab"
        )
        masked = mask_text(text)
        self.assertNotIn("4821", masked)
        self.assertNotIn("s3cr3t-token", masked)
        self.assertIn("short ab", masked)  # too short to hide
        self.assertEqual(masked.count("[hidden]"), 4)

    def test_unhide_ends_the_hiding(self):
        unhide(hide(["s3cr3t-token"]))
        self.assertEqual(mask_text("s3cr3t-token"), "s3cr3t-token")


class MaskNumbersFilterTests(SimpleTestCase):
    def log(self, logger, *args, exception=False):
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.addFilter(MaskNumbers())
        logger.addHandler(handler)
        self.addCleanup(logger.removeHandler, handler)
        (logger.exception if exception else logger.error)(*args)
        return stream.getvalue()

    def test_message_and_traceback_are_masked(self):
        logger = logging.getLogger("tests.masking.handler")
        try:
            raise ValueError("cannot reach +441134960000")
        except ValueError:
            output = self.log(
                logger, "Sending to %s failed", "+44 113 496 0999", exception=True
            )
        self.assertIn("Sending to +44 1*******0999 failed", output)
        self.assertIn("Traceback", output)
        self.assertIn("ValueError: cannot reach +4411****0000", output)
        self.assertNotIn("4960000", output)
        self.assertNotIn("496 0999", output)

    def test_unformattable_record_is_still_written(self):
        output = self.log(logging.getLogger("tests.masking.bad"), "%s %s", "one")
        self.assertIn("could not be formatted", output)


class InstallFilterTests(SimpleTestCase):
    def test_every_logger_under_the_prefix_gets_one_filter(self):
        parent = logging.getLogger("tests_sdk")
        child = logging.getLogger("tests_sdk.http")
        other = logging.getLogger("tests_sdk_other")
        for logger in (parent, child, other):
            self.addCleanup(setattr, logger, "filters", list(logger.filters))
        install_filter("tests_sdk")
        install_filter("tests_sdk")
        late = logging.getLogger("tests_sdk.late")
        self.addCleanup(setattr, late, "filters", list(late.filters))
        install_filter("tests_sdk")
        for logger in (parent, child, late):
            kinds = [type(f) for f in logger.filters]
            self.assertEqual(kinds.count(MaskNumbers), 1, logger.name)
        self.assertEqual(other.filters, [])
