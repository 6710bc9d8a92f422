"""Every public name the outbox documented still imports from where it was.

The modules moved into sub-packages by capability (``drain/``, ``admin/``,
``webhooks/``); code that imported a documented name from its earlier path
keeps working.
"""

import importlib

from django.test import SimpleTestCase

#: (module, name) pairs users may have imported.
DOCUMENTED = [
    ("sms_outbox.backends", "QueuedSmsBackend"),
    ("sms_outbox.backends", "get_delivery_backend_path"),
    ("sms_outbox.engine", "send_queued"),
    ("sms_outbox.engine", "DrainResult"),
    ("sms_outbox.models", "Message"),
    ("sms_outbox.models", "MessageQuerySet"),
    ("sms_outbox.models", "Attempt"),
    ("sms_outbox.models", "InboundMessage"),
    ("sms_outbox.models", "Suppression"),
    ("sms_outbox.models", "SuppressionChange"),
    ("sms_outbox.signals", "message_queued"),
    ("sms_outbox.signals", "delivery_status_changed"),
    ("sms_outbox.signals", "sms_received"),
    ("sms_outbox.tasks", "drain_outbox"),
    ("sms_outbox.tasks", "next_due"),
    ("sms_outbox.suppression", "suppress"),
    ("sms_outbox.suppression", "unsuppress"),
    ("sms_outbox.suppression", "is_suppressed"),
    ("sms_outbox.suppression", "suppressed_among"),
    ("sms_outbox.health", "get_queue_health"),
    ("sms_outbox.health", "QueueHealth"),
    ("sms_outbox.admin", "MessageAdmin"),
]


class PublicNameTests(SimpleTestCase):
    def test_every_documented_name_imports_from_its_documented_path(self):
        for module, name in DOCUMENTED:
            with self.subTest(f"{module}.{name}"):
                self.assertTrue(hasattr(importlib.import_module(module), name))

    def test_the_old_paths_are_the_new_objects(self):
        from sms_outbox import drain, engine, optout, suppression

        self.assertIs(engine.send_queued, drain.send_queued)
        self.assertIs(suppression.suppress, optout.suppress)
