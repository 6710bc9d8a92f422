"""The suppression list: lookups, changes with their log, and the keywords."""

from django.db import connection
from django.test import SimpleTestCase, TestCase, override_settings
from django.test.utils import CaptureQueriesContext

from sms.exceptions import InvalidPhoneNumber
from sms_outbox.models import Suppression, SuppressionChange
from sms_outbox.optout import (
    enforced_among,
    is_suppressed,
    match_keyword,
    suppress,
    suppressed_among,
    unsuppress,
    unsuppress_many,
)

A, B, C = "+441134960000", "+441134960999", "+12065550100"


class SuppressionListTests(TestCase):
    def test_suppress_adds_the_number_once_and_logs_the_change(self):
        self.assertTrue(suppress(A, "replied STOP", Suppression.Source.KEYWORD))
        self.assertFalse(suppress(A, "again", Suppression.Source.ADMIN))
        row = Suppression.objects.get()
        self.assertEqual(
            (row.phone_number, row.reason, row.source), (A, "replied STOP", "keyword")
        )
        changes = list(
            SuppressionChange.objects.values_list("change", "reason", "source")
        )
        self.assertEqual(changes, [("added", "replied STOP", "keyword")])

    def test_unsuppress_removes_it_and_logs_the_change(self):
        suppress(A, "replied STOP", Suppression.Source.KEYWORD)
        self.assertTrue(unsuppress(A, "replied START", Suppression.Source.KEYWORD))
        self.assertFalse(unsuppress(A, "again", Suppression.Source.ADMIN))
        self.assertFalse(Suppression.objects.exists())
        changes = list(
            SuppressionChange.objects.order_by("id").values_list("change", "reason")
        )
        self.assertEqual(
            changes, [("added", "replied STOP"), ("removed", "replied START")]
        )

    def test_numbers_are_normalised_and_checked(self):
        suppress("+44 113 496 0000", "spaces", Suppression.Source.API)
        self.assertTrue(is_suppressed(A))
        self.assertTrue(is_suppressed("+44 (113) 4960000"))
        self.assertFalse(is_suppressed(B))
        with self.assertRaises(InvalidPhoneNumber):
            suppress("not a number", "typo", Suppression.Source.API)
        self.assertEqual(Suppression.objects.count(), 1)

    def test_long_reasons_are_cut_to_the_column(self):
        suppress(A, "x" * 500, Suppression.Source.API)
        self.assertEqual(len(Suppression.objects.get().reason), 200)

    def test_suppressed_among_is_one_query_for_a_batch(self):
        suppress(A, "STOP", Suppression.Source.KEYWORD)
        suppress(C, "STOP", Suppression.Source.KEYWORD)
        numbers = [A, B, C] + [f"+4411349{n:05d}" for n in range(400)]
        with CaptureQueriesContext(connection) as queries:
            found = suppressed_among(numbers)
        self.assertEqual(found, {A, C})
        self.assertEqual(len(queries), 1)

    def test_suppressed_among_splits_huge_batches(self):
        suppress(C, "STOP", Suppression.Source.KEYWORD)
        numbers = [f"+4411349{n:05d}" for n in range(2000)] + [C]
        with CaptureQueriesContext(connection) as queries:
            self.assertEqual(suppressed_among(numbers), {C})
        self.assertEqual(len(queries), 3)

    @override_settings(SMS_OUTBOX_ENFORCE_OPT_OUT=False)
    def test_enforcement_off_asks_nothing(self):
        suppress(A, "STOP", Suppression.Source.KEYWORD)
        with CaptureQueriesContext(connection) as queries:
            self.assertEqual(enforced_among([A]), set())
        self.assertEqual(len(queries), 0)
        self.assertTrue(is_suppressed(A))  # the list itself is still there


class UnsuppressManyTests(TestCase):
    def numbers(self, count):
        return [f"+4411349{n:05d}" for n in range(count)]

    def statements(self, numbers):
        Suppression.objects.bulk_create(
            Suppression(phone_number=n, source="admin") for n in numbers
        )
        with CaptureQueriesContext(connection) as queries:
            removed = unsuppress_many(numbers, "cleared", Suppression.Source.ADMIN)
        self.assertEqual(removed, len(numbers))
        self.assertFalse(Suppression.objects.exists())
        return len(queries)

    def test_statements_do_not_grow_with_the_numbers_within_a_batch(self):
        one = self.statements(self.numbers(1))
        self.assertEqual(self.statements(self.numbers(150)), one)
        # 1,000 numbers are 7 batches of 150: 3 statements each, and one
        # transaction around them all.
        self.assertLessEqual(self.statements(self.numbers(1000)), 7 * one)
        self.assertLess(self.statements(self.numbers(1000)), 3 * 1000 // 10)

    def test_each_removal_is_logged_and_numbers_not_listed_are_skipped(self):
        suppress(A, "replied STOP", Suppression.Source.KEYWORD)
        suppress(B, "replied STOP", Suppression.Source.KEYWORD)
        removed = unsuppress_many(
            ["+44 113 496 0000", B, C], "opted in by phone", Suppression.Source.ADMIN
        )
        self.assertEqual(removed, 2)
        self.assertEqual(
            sorted(
                SuppressionChange.objects.filter(change="removed").values_list(
                    "phone_number", "reason", "source"
                )
            ),
            [(A, "opted in by phone", "admin"), (B, "opted in by phone", "admin")],
        )

    def test_a_bad_number_changes_nothing(self):
        suppress(A, "replied STOP", Suppression.Source.KEYWORD)
        with self.assertRaises(InvalidPhoneNumber):
            unsuppress_many([A, "not a number"], "x", Suppression.Source.ADMIN)
        self.assertTrue(Suppression.objects.exists())


class KeywordTests(SimpleTestCase):
    def test_keywords_are_normalised_before_matching(self):
        for body in (
            "Stop.",
            "stop\u200b",
            "\uff33\uff34\uff2f\uff30",
            " STOP! ",
            "Stop?!",
        ):
            with self.subTest(body=body):
                self.assertEqual(match_keyword(body), "opt_out")
        self.assertEqual(match_keyword("Start\u2060."), "opt_in")

    @override_settings(SMS_OUTBOX_OPT_OUT_KEYWORDS=["ＡＲＲÊT", "Cancel."])
    def test_keywords_in_settings_are_normalised_too(self):
        self.assertEqual(match_keyword("arrêt"), "opt_out")
        self.assertEqual(match_keyword("CANCEL"), "opt_out")

    def test_default_keywords(self):
        for body in [
            "STOP",
            "stop",
            "  Stop\n",
            "STOPALL",
            "unsubscribe",
            "Cancel",
            "END",
            "quit",
            "REVOKE",
            "OptOut",
        ]:
            with self.subTest(body=body):
                self.assertEqual(match_keyword(body), "opt_out")
        for body in ["START", "unstop", " yes "]:
            with self.subTest(body=body):
                self.assertEqual(match_keyword(body), "opt_in")
        self.assertEqual(match_keyword("help"), "help")

    def test_only_a_whole_body_counts(self):
        for body in ["", "   ", "please stop", "STOP it", "started", "!"]:
            with self.subTest(body=body):
                self.assertEqual(match_keyword(body), "")

    @override_settings(
        SMS_OUTBOX_OPT_OUT_KEYWORDS=["ARRET"], SMS_OUTBOX_OPT_IN_KEYWORDS="go, again"
    )
    def test_settings_replace_the_lists(self):
        self.assertEqual(match_keyword("arret"), "opt_out")
        self.assertEqual(match_keyword("STOP"), "")
        self.assertEqual(match_keyword("Again"), "opt_in")
        self.assertEqual(match_keyword("START"), "")
