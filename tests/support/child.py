"""Seed and inspect the database that the multi-process outbox tests share.

Run as ``python -m tests.support.child seed N``, ``... report`` or
``... cancel BODY...`` (requeue expired leases, then cancel the queued rows
with these bodies) with ``DJANGO_SETTINGS_MODULE=tests.support.proc_settings``
and ``OUTBOX_DB`` set.
"""

import collections
import json
import sys

import django


def seed(count):
    """Queue ``count`` SMS, "Message 0" onwards; migrate a SQLite file first."""
    from django.core.management import call_command
    from django.db import connection

    import sms

    if connection.vendor == "sqlite":
        call_command("migrate", verbosity=0)
    queued = sms.get_connection("sms_outbox.backends.QueuedSmsBackend")
    for start in range(0, count, 500):
        data = [
            (f"Message {n}", "Acme", ["+441134960000"])
            for n in range(start, min(count, start + 500))
        ]
        sms.send_mass_sms(data, connection=queued)


def report():
    """Return the rows and attempts, counted and per row, for the test to check."""
    from sms_outbox.models import Attempt, Message

    rows = Message.objects.values_list(
        "reference", "body", "status", "attempts", "last_error"
    )
    unknown = Attempt.objects.filter(outcome=Attempt.Outcome.UNKNOWN)
    return {
        "status": collections.Counter(Message.objects.values_list("status", flat=True)),
        "references": list(Message.objects.values_list("reference", flat=True)),
        "outcomes": collections.Counter(
            Attempt.objects.values_list("outcome", flat=True)
        ),
        # Per row: body, status, attempts and last error.
        "rows": {reference: values for reference, *values in rows},
        # Rows with an ``unknown`` attempt logged: possible duplicates.
        "unknown": sorted(set(unknown.values_list("message__reference", flat=True))),
    }


def cancel(bodies):
    """Requeue expired leases, then cancel the queued rows with ``bodies``."""
    from sms_outbox.drain.claims import requeue_expired
    from sms_outbox.models import Message

    requeue_expired()
    return Message.objects.filter(body__in=bodies).cancel()


def main(argv):
    django.setup()
    if argv[0] == "seed":
        seed(int(argv[1]))
    elif argv[0] == "report":
        print(json.dumps(report()))
    elif argv[0] == "cancel":
        print(cancel(argv[1:]))


if __name__ == "__main__":
    main(sys.argv[1:])
