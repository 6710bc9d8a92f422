"""Migrate, queue SMS and inspect wake-ups for the task worker tests' processes.

Run as ``python -m tests.support.task_child migrate``, ``... queue-mixed
DELAY`` or ``... tasks`` with
``DJANGO_SETTINGS_MODULE=tests.support.task_proc_settings``.
"""

import datetime
import json
import sys

import django


def queue_mixed(delay):
    """Queue three requests: one SMS now, one in ``delay`` s, one that fails first.

    Return each body's reference and the scheduled time.
    """
    from django.db import transaction
    from django.utils import timezone

    import sms
    from sms_outbox.models import Message

    send_after = timezone.now() + datetime.timedelta(seconds=delay)
    with transaction.atomic():
        sms.send_sms("Now", "Acme", ["+441134960000"])
    with transaction.atomic():
        later = sms.get_connection(send_after=send_after)
        sms.send_sms("Later", "Acme", ["+441134960001"], connection=later)
    with transaction.atomic():
        sms.send_sms("Flaky", "Acme", ["+441134960002"])
    rows = Message.objects.values_list("body", "reference")
    return {"references": dict(rows), "send_after": send_after.timestamp()}


def tasks():
    """Return the wake-ups due now, the statuses seen, and the SMS they sent."""
    from django_tasks_db.models import DBTaskResult

    results = DBTaskResult.objects.values_list("status", "return_value")
    return {
        "due": DBTaskResult.objects.ready().count(),
        "status": sorted({status for status, _ in results}),
        "sent": sum((value or {}).get("sent", 0) for _, value in results),
    }


def main(argv):
    django.setup()
    if argv[0] == "migrate":
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    elif argv[0] == "queue-mixed":
        print(json.dumps(queue_mixed(float(argv[1]))))
    elif argv[0] == "tasks":
        print(json.dumps(tasks()))


if __name__ == "__main__":
    main(sys.argv[1:])
