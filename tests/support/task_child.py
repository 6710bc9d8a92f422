"""Migrate, queue SMS and inspect wake-ups for the task worker tests' processes.

Run as ``python -m tests.support.task_child migrate`` or ``... queue-mixed``
with ``DJANGO_SETTINGS_MODULE=tests.support.task_proc_settings``.
"""

import datetime
import json
import sys

import django


def main(argv):
    django.setup()
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    import sms
    from sms_outbox.models import Message

    if argv[0] == "migrate":
        call_command("migrate", verbosity=0)
    elif argv[0] == "queue-mixed":
        # Three requests: one SMS now, one scheduled, one whose first try fails.
        delay = float(argv[1])
        send_after = timezone.now() + datetime.timedelta(seconds=delay)
        with transaction.atomic():
            sms.send_sms("Now", "Acme", ["+441134960000"])
        with transaction.atomic():
            later = sms.get_connection(send_after=send_after)
            sms.send_sms("Later", "Acme", ["+441134960001"], connection=later)
        with transaction.atomic():
            sms.send_sms("Flaky", "Acme", ["+441134960002"])
        rows = Message.objects.values_list("body", "reference")
        print(
            json.dumps({"references": dict(rows), "send_after": send_after.timestamp()})
        )
    elif argv[0] == "tasks":
        # Wake-ups still to run now, running, finished; later ones are not due.
        from django_tasks_db.models import DBTaskResult

        results = DBTaskResult.objects.values_list("status", "return_value")
        print(
            json.dumps(
                {
                    "due": DBTaskResult.objects.ready().count(),
                    "status": sorted({status for status, _ in results}),
                    "sent": sum((value or {}).get("sent", 0) for _, value in results),
                }
            )
        )


if __name__ == "__main__":
    main(sys.argv[1:])
