"""Queue SMS and record deliveries for the task worker tests' processes.

Run as ``python -m tests.outbox.task_child migrate`` or ``... queue-mixed``
with ``DJANGO_SETTINGS_MODULE=tests.outbox.task_proc_settings``.
"""

import datetime
import json
import os
import sys
import time

import django

from tests.outbox.fakes import RecordingBackend


class TimedRecordingBackend(RecordingBackend):
    """Record ``reference time`` per delivery; refuse first tries if asked.

    A recipient listed in ``OUTBOX_FAIL_FIRST`` (comma-separated) gets a 503
    on its first attempt, remembered across processes in a file beside
    ``OUTBOX_RECORD_FILE``.
    """

    def send_messages(self, messages):
        from sms.exceptions import ProviderUnavailable

        fail_first = os.environ.get("OUTBOX_FAIL_FIRST", "").split(",")
        failed_file = self.path + ".failed"
        for message in messages:
            if message.recipients[0] in fail_first:
                failed = (
                    open(failed_file).read().split()
                    if os.path.exists(failed_file)
                    else []
                )
                if message.reference not in failed:
                    with open(failed_file, "a") as file:
                        file.write(f"{message.reference}\n")
                    raise ProviderUnavailable("503 Service Unavailable", code=503)
        count = super().send_messages(messages)
        with open(self.path + ".times", "a") as file:
            for message in messages:
                file.write(f"{message.reference} {time.time()}\n")
        return count


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
