"""The contract every SMS backend honours, as a mixin for per-backend test classes.

Like Django's ``BaseEmailBackendTests``: a test class combines this mixin with
a test case, sets ``sms_backend`` and implements ``get_outbox_content()`` (the
messages the backend delivered, one ``Message`` per recipient, in order) and
``flush_outbox()``.
"""

from django.test import override_settings

import sms
from sms.signals import post_send

ORIGINATOR = "+12065550100"
RECIPIENT = "+441134960000"
OTHER_RECIPIENT = "+441134960999"


class BaseSmsBackendTests:
    sms_backend = None

    def setUp(self):
        super().setUp()
        override = override_settings(SMS_BACKEND=self.sms_backend)
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

    def test_send_sms(self):
        count = sms.send_sms(
            "Here is the message",
            ORIGINATOR,
            [RECIPIENT],
            connection=self.get_connection(),
        )
        self.assertEqual(count, 1)
        self.assertEqual(
            self.delivered(), [(ORIGINATOR, [RECIPIENT], "Here is the message")]
        )

    def test_send_sms_single_string_recipient(self):
        sms.send_sms("Hi", ORIGINATOR, RECIPIENT, connection=self.get_connection())
        self.assertEqual(self.delivered(), [(ORIGINATOR, [RECIPIENT], "Hi")])

    def test_one_record_per_recipient_in_order(self):
        message = sms.Message(
            "Two of you",
            ORIGINATOR,
            [RECIPIENT, OTHER_RECIPIENT],
            connection=self.get_connection(),
        )
        self.assertEqual(message.send(), 1)
        self.assertEqual(
            self.delivered(),
            [
                (ORIGINATOR, [RECIPIENT], "Two of you"),
                (ORIGINATOR, [OTHER_RECIPIENT], "Two of you"),
            ],
        )

    def test_send_messages_counts_messages(self):
        connection = self.get_connection()
        messages = [
            sms.Message("one", ORIGINATOR, [RECIPIENT, OTHER_RECIPIENT]),
            sms.Message("two", ORIGINATOR, [RECIPIENT]),
        ]
        self.assertEqual(connection.send_messages(messages), 2)
        self.assertEqual(len(self.get_outbox_content()), 3)

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
        self.assertEqual(
            [m.body for m in self.get_outbox_content()], ["first", "second"]
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
        self.assertEqual(
            sorted(m.body for m in self.get_outbox_content()),
            ["mass one", "mass two"],
        )

    def test_default_originator(self):
        with self.settings(DEFAULT_FROM_SMS=ORIGINATOR):
            sms.send_sms(
                "from default", None, [RECIPIENT], connection=self.get_connection()
            )
        self.assertEqual(self.get_outbox_content()[0].originator, ORIGINATOR)

    def test_unicode_body(self):
        body = "Grüße, €5 and 👍"
        sms.send_sms(body, ORIGINATOR, [RECIPIENT], connection=self.get_connection())
        self.assertEqual(self.get_outbox_content()[0].body, body)
