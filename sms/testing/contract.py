"""The contract every SMS backend honours, as a mixin for per-backend test classes.

Like Django's ``BaseEmailBackendTests``: a test class combines this mixin with
a test case, sets ``sms_backend`` and implements ``get_outbox_content()`` (the
messages the backend delivered, one ``Message`` per recipient, in order) and
``flush_outbox()``. A backend that keeps nothing it sends (the dummy backend)
sets ``records_messages = False``: the content checks then assert that nothing
was recorded, and every other check still runs.
"""

from django.test import override_settings

import sms
from sms.exceptions import MessageTooLong
from sms.signals import post_send

ORIGINATOR = "+12065550100"
RECIPIENT = "+441134960000"
OTHER_RECIPIENT = "+441134960999"


class BaseSmsBackendTests:
    sms_backend = None
    records_messages = True

    def setUp(self):
        super().setUp()
        # A backend's contract touches no database: with the outbox installed,
        # its suppression-list lookup is left out (see "Receiving SMS").
        override = override_settings(
            SMS_BACKEND=self.sms_backend, SMS_OUTBOX_ENFORCE_OPT_OUT=False
        )
        override.enable()
        self.addCleanup(override.disable)
        self.flush_outbox()

    def get_outbox_content(self):
        raise NotImplementedError("subclasses must return the delivered messages")

    def flush_outbox(self):
        raise NotImplementedError("subclasses must empty the outbox")

    def get_connection(self, **kwargs):
        return sms.get_connection(**kwargs)

    def delivered(self):
        return [(m.originator, m.recipients, m.body) for m in self.get_outbox_content()]

    def assertDelivered(self, expected):
        """Assert the (originator, [recipient], body) records, in order."""
        self.assertEqual(self.delivered(), expected if self.records_messages else [])

    def test_send_sms(self):
        count = sms.send_sms(
            "Here is the message",
            ORIGINATOR,
            [RECIPIENT],
            connection=self.get_connection(),
        )
        self.assertEqual(count, 1)
        self.assertDelivered([(ORIGINATOR, [RECIPIENT], "Here is the message")])

    def test_send_sms_single_string_recipient(self):
        count = sms.send_sms(
            "Hi", ORIGINATOR, RECIPIENT, connection=self.get_connection()
        )
        self.assertEqual(count, 1)
        self.assertDelivered([(ORIGINATOR, [RECIPIENT], "Hi")])

    def test_one_record_per_recipient_in_order(self):
        message = sms.Message(
            "Two of you",
            ORIGINATOR,
            [RECIPIENT, OTHER_RECIPIENT],
            connection=self.get_connection(),
        )
        self.assertEqual(message.send(), 1)
        self.assertDelivered(
            [
                (ORIGINATOR, [RECIPIENT], "Two of you"),
                (ORIGINATOR, [OTHER_RECIPIENT], "Two of you"),
            ]
        )

    def test_send_messages_counts_messages(self):
        connection = self.get_connection()
        messages = [
            sms.Message("one", ORIGINATOR, [RECIPIENT, OTHER_RECIPIENT]),
            sms.Message("two", ORIGINATOR, [RECIPIENT]),
        ]
        self.assertEqual(connection.send_messages(messages), 2)
        self.assertEqual(
            len(self.get_outbox_content()), 3 if self.records_messages else 0
        )

    def test_send_messages_empty_list(self):
        self.assertEqual(self.get_connection().send_messages([]), 0)
        self.assertEqual(self.get_outbox_content(), [])

    def test_message_without_recipients_sends_nothing(self):
        self.assertEqual(sms.Message("nobody", ORIGINATOR, []).send(), 0)
        self.assertEqual(self.get_outbox_content(), [])

    def test_results_one_per_recipient(self):
        message = sms.Message(
            "results",
            ORIGINATOR,
            [RECIPIENT, OTHER_RECIPIENT],
            connection=self.get_connection(),
        )
        message.send()
        self.assertEqual(
            [r.recipient for r in message.results], [RECIPIENT, OTHER_RECIPIENT]
        )
        self.assertTrue(all(r.ok and r.error is None for r in message.results))

    def test_caller_message_unchanged(self):
        recipients = [RECIPIENT, OTHER_RECIPIENT]
        message = sms.Message(
            "unchanged", ORIGINATOR, recipients, connection=self.get_connection()
        )
        message.send()
        self.assertEqual(message.body, "unchanged")
        self.assertEqual(message.originator, ORIGINATOR)
        self.assertEqual(message.recipients, [RECIPIENT, OTHER_RECIPIENT])

    def test_post_send_fires_once_per_message(self):
        seen = []

        def receiver(sender, instance, **kwargs):
            seen.append((sender, instance))

        post_send.connect(receiver)
        self.addCleanup(post_send.disconnect, receiver)
        message = sms.Message(
            "signal",
            ORIGINATOR,
            [RECIPIENT, OTHER_RECIPIENT],
            connection=self.get_connection(),
        )
        message.send()
        self.assertEqual(seen, [(sms.Message, message)])

    def test_context_manager_reuses_connection(self):
        with self.get_connection() as connection:
            for body in ("first", "second"):
                sms.Message(body, ORIGINATOR, [RECIPIENT], connection=connection).send()
        self.assertDelivered(
            [(ORIGINATOR, [RECIPIENT], "first"), (ORIGINATOR, [RECIPIENT], "second")]
        )

    def test_send_mass_sms(self):
        count = sms.send_mass_sms(
            [
                ("mass one", ORIGINATOR, [RECIPIENT]),
                ("mass two", ORIGINATOR, [OTHER_RECIPIENT]),
            ],
            connection=self.get_connection(),
        )
        self.assertEqual(count, 2)
        self.assertDelivered(
            [
                (ORIGINATOR, [RECIPIENT], "mass one"),
                (ORIGINATOR, [OTHER_RECIPIENT], "mass two"),
            ]
        )

    def test_default_originator(self):
        with self.settings(DEFAULT_FROM_SMS=ORIGINATOR):
            sms.send_sms(
                "from default", None, [RECIPIENT], connection=self.get_connection()
            )
        self.assertDelivered([(ORIGINATOR, [RECIPIENT], "from default")])

    def test_unicode_body(self):
        body = "Grüße, €5 and 👍"
        sms.send_sms(body, ORIGINATOR, [RECIPIENT], connection=self.get_connection())
        self.assertDelivered([(ORIGINATOR, [RECIPIENT], body)])

    def test_send_messages_empty_list_opens_nothing(self):
        connection = self.get_connection()
        opened = []
        connection.open = lambda: opened.append(True)
        self.assertEqual(connection.send_messages([]), 0)
        self.assertEqual(opened, [])

    def test_get_connection_passes_fail_silently(self):
        self.assertIs(self.get_connection(fail_silently=True).fail_silently, True)
        self.assertIs(self.get_connection().fail_silently, False)

    def test_message_get_connection_keeps_it(self):
        message = sms.Message("kept", ORIGINATOR, [RECIPIENT])
        connection = message.get_connection()
        self.assertIsInstance(connection, sms.BaseSmsBackend)
        self.assertIs(message.connection, connection)
        self.assertIs(message.get_connection(), connection)

    def test_send_without_recipients_creates_no_connection(self):
        message = sms.Message("nobody", ORIGINATOR)
        self.assertEqual(message.send(), 0)
        self.assertIsNone(message.connection)

    def test_close_without_open(self):
        connection = self.get_connection()
        connection.close()
        connection.close()

    def test_context_manager_returns_backend(self):
        connection = self.get_connection()
        with connection as entered:
            self.assertIs(entered, connection)

    def test_results_replaced_on_resend(self):
        message = sms.Message(
            "again", ORIGINATOR, [RECIPIENT], connection=self.get_connection()
        )
        message.send()
        message.send()
        self.assertEqual([r.recipient for r in message.results], [RECIPIENT])

    def test_too_long_message_is_not_sent(self):
        with self.settings(SMS_MAX_SEGMENTS=1):
            message = sms.Message(
                "x" * 161, ORIGINATOR, [RECIPIENT], connection=self.get_connection()
            )
            with self.assertRaises(MessageTooLong):
                message.send()
            self.assertEqual(message.send(fail_silently=True), 0)
        self.assertEqual(self.get_outbox_content(), [])
