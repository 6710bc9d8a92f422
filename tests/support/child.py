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


def main(argv):
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    import sms
    from sms_outbox.models import Attempt, Message

    if argv[0] == "seed":
        if connection.vendor == "sqlite":
            call_command("migrate", verbosity=0)
        queued = sms.get_connection("sms_outbox.backends.QueuedSmsBackend")
        count = int(argv[1])
        for start in range(0, count, 500):
            data = [
                (f"Message {n}", "Acme", ["+441134960000"])
                for n in range(start, min(count, start + 500))
            ]
            sms.send_mass_sms(data, connection=queued)
    elif argv[0] == "report":
        report = {
            "status": collections.Counter(
                Message.objects.values_list("status", flat=True)
            ),
            "references": list(Message.objects.values_list("reference", flat=True)),
            "outcomes": collections.Counter(
                Attempt.objects.values_list("outcome", flat=True)
            ),
            # Per row: body, status, attempts, last error, and whether an
            # ``unknown`` attempt (a possible duplicate) is logged for it.
            "rows": {
                reference: [body, status, attempts, last_error]
                for reference, body, status, attempts, last_error in (
                    Message.objects.values_list(
                        "reference", "body", "status", "attempts", "last_error"
                    )
                )
            },
            "unknown": sorted(
                set(
                    Attempt.objects.filter(outcome=Attempt.Outcome.UNKNOWN).values_list(
                        "message__reference", flat=True
                    )
                )
            ),
        }
        print(json.dumps(report))
    elif argv[0] == "cancel":
        from sms_outbox.claims import requeue_expired

        requeue_expired()
        print(Message.objects.filter(body__in=argv[1:]).cancel())


if __name__ == "__main__":
    main(sys.argv[1:])
