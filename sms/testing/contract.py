"""The contract every SMS backend honours, as a mixin for per-backend test classes.

Like Django's ``BaseEmailBackendTests``: a test class combines this mixin with
a test case, sets ``sms_backend`` and implements ``get_outbox_content()`` (the
messages the backend delivered, one ``Message`` per recipient, in order) and
``flush_outbox()``. A backend that keeps nothing it sends (the dummy backend)
sets ``records_messages = False``: the content checks then assert that nothing
was recorded, and every other check still runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.test import SimpleTestCase, override_settings

import sms
from sms.backends.base import BaseSmsBackend
from sms.exceptions import MessageTooLong
from sms.message import Message
from sms.signals import post_send

if TYPE_CHECKING:
    # Type checkers see the test case the mixin is combined with.
    _TestCase = SimpleTestCase
else:
    _TestCase = object

#: (originator, [recipient], body): one delivered record.
_Record = tuple[str, list[str], str]

ORIGINATOR = "+12065550100"
RECIPIENT = "+441134960000"
OTHER_RECIPIENT = "+441134960999"


class BaseSmsBackendTests(_TestCase):
    sms_backend: str | None = None
    records_messages = True

    def setUp(self) -> None:
        super().setUp()
        # A backend's contract touches no database: with the outbox installed,
        # its suppression-list lookup is left out (see "Receiving SMS").
        override = override_settings(
            SMS_BACKEND=self.sms_backend, SMS_OUTBOX_ENFORCE_OPT_OUT=False
        )
        override.enable()
        self.addCleanup(override.disable)
        self.flush_outbox()

    def get_outbox_content(self) -> list[Message]:
        raise NotImplementedError("subclasses must return the delivered messages")

    def flush_outbox(self) -> None:
        raise NotImplementedError("subclasses must empty the outbox")

    def get_connection(self, **kwargs: Any) -> BaseSmsBackend:
        return sms.get_connection(**kwargs)

    def delivered(self) -> list[_Record]:
        return [(m.originator, m.recipients, m.body) for m in self.get_outbox_content()]

    def assertDelivered(self, expected: list[_Record]) -> None:
        """Assert the (originator, [recipient], body) records, in order."""
        self.assertEqual(self.delivered(), expected if self.records_messages else [])

    def test_send_sms(self) -> None:
        count = sms.send_sms(
            "Here is the message",
            ORIGINATOR,
            [RECIPIENT],
            connection=self.get_connection(),
        )
        self.assertEqual(count, 1)
        self.assertDelivered([(ORIGINATOR, [RECIPIENT], "Here is the message")])

    def test_send_sms_single_string_recipient(self) -> None:
        count = sms.send_sms(
            "Hi", ORIGINATOR, RECIPIENT, connection=self.get_connection()
        )
        self.assertEqual(count, 1)
        self.assertDelivered([(ORIGINATOR, [RECIPIENT], "Hi")])

    def test_one_record_per_recipient_in_order(self) -> None:
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

    def test_send_messages_counts_messages(self) -> None:
        connection = self.get_connection()
        messages = [
            sms.Message("one", ORIGINATOR, [RECIPIENT, OTHER_RECIPIENT]),
            sms.Message("two", ORIGINATOR, [RECIPIENT]),
        ]
        self.assertEqual(connection.send_messages(messages), 2)
        self.assertEqual(
            len(self.get_outbox_content()), 3 if self.records_messages else 0
        )

    def test_send_messages_empty_list(self) -> None:
        self.assertEqual(self.get_connection().send_messages([]), 0)
        self.assertEqual(self.get_outbox_content(), [])

    def test_message_without_recipients_sends_nothing(self) -> None:
        self.assertEqual(sms.Message("nobody", ORIGINATOR, []).send(), 0)
        self.assertEqual(self.get_outbox_content(), [])

    def test_results_one_per_recipient(self) -> None:
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

    def test_caller_message_unchanged(self) -> None:
        recipients = [RECIPIENT, OTHER_RECIPIENT]
        message = sms.Message(
            "unchanged", ORIGINATOR, recipients, connection=self.get_connection()
        )
        message.send()
        self.assertEqual(message.body, "unchanged")
        self.assertEqual(message.originator, ORIGINATOR)
        self.assertEqual(message.recipients, [RECIPIENT, OTHER_RECIPIENT])

    def test_post_send_fires_once_per_message(self) -> None:
        seen: list[tuple[type, Message]] = []

        def receiver(sender: type, instance: Message, **kwargs: Any) -> None:
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

    def test_context_manager_reuses_connection(self) -> None:
        with self.get_connection() as connection:
            for body in ("first", "second"):
                sms.Message(body, ORIGINATOR, [RECIPIENT], connection=connection).send()
        self.assertDelivered(
            [(ORIGINATOR, [RECIPIENT], "first"), (ORIGINATOR, [RECIPIENT], "second")]
        )

    def test_send_mass_sms(self) -> None:
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

    def test_default_originator(self) -> None:
        with self.settings(DEFAULT_FROM_SMS=ORIGINATOR):
            sms.send_sms(
                "from default", None, [RECIPIENT], connection=self.get_connection()
            )
        self.assertDelivered([(ORIGINATOR, [RECIPIENT], "from default")])

    def test_unicode_body(self) -> None:
        body = "Grüße, €5 and 👍"
        sms.send_sms(body, ORIGINATOR, [RECIPIENT], connection=self.get_connection())
        self.assertDelivered([(ORIGINATOR, [RECIPIENT], body)])

    def test_send_messages_empty_list_opens_nothing(self) -> None:
        connection = self.get_connection()
        opened: list[bool] = []
        # Spy on open(): a deliberate monkeypatch of the method.
        connection.open = lambda: opened.append(True)  # type: ignore[method-assign]
        self.assertEqual(connection.send_messages([]), 0)
        self.assertEqual(opened, [])

    def test_get_connection_passes_fail_silently(self) -> None:
        self.assertIs(self.get_connection(fail_silently=True).fail_silently, True)
        self.assertIs(self.get_connection().fail_silently, False)

    def test_message_get_connection_keeps_it(self) -> None:
        message = sms.Message("kept", ORIGINATOR, [RECIPIENT])
        connection = message.get_connection()
        self.assertIsInstance(connection, sms.BaseSmsBackend)
        self.assertIs(message.connection, connection)
        self.assertIs(message.get_connection(), connection)

    def test_send_without_recipients_creates_no_connection(self) -> None:
        message = sms.Message("nobody", ORIGINATOR)
        self.assertEqual(message.send(), 0)
        self.assertIsNone(message.connection)

    def test_close_without_open(self) -> None:
        connection = self.get_connection()
        connection.close()
        connection.close()

    def test_context_manager_returns_backend(self) -> None:
        connection = self.get_connection()
        with connection as entered:
            self.assertIs(entered, connection)

    def test_results_replaced_on_resend(self) -> None:
        message = sms.Message(
            "again", ORIGINATOR, [RECIPIENT], connection=self.get_connection()
        )
        message.send()
        message.send()
        self.assertEqual([r.recipient for r in message.results], [RECIPIENT])

    def test_too_long_message_is_not_sent(self) -> None:
        with self.settings(SMS_MAX_SEGMENTS=1):
            message = sms.Message(
                "x" * 161, ORIGINATOR, [RECIPIENT], connection=self.get_connection()
            )
            with self.assertRaises(MessageTooLong):
                message.send()
            self.assertEqual(message.send(fail_silently=True), 0)
        self.assertEqual(self.get_outbox_content(), [])
