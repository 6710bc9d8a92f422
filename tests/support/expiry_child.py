"""Queue SMS with a time to live for the task worker expiry test's processes.

Run as ``python -m tests.support.expiry_child DELAY`` with
``DJANGO_SETTINGS_MODULE=tests.support.task_proc_settings``; prints each
body's reference as JSON.
"""

import datetime
import json
import sys

import django


def queue(delay):
    """Queue a code due in ``delay`` s that expires before then, and two others.

    "Fresh" is due now and "Later" at the code's due time: once the worker
    delivered both, it has had its chance to send the code.
    """
    from django.db import transaction
    from django.utils import timezone

    import sms
    from sms_outbox.models import Message

    due = timezone.now() + datetime.timedelta(seconds=delay)
    with transaction.atomic():
        code = sms.get_connection(send_after=due, ttl=delay / 4)
        sms.Message("Code 1234", "Acme", ["+441134960000"], code, kind="otp").send()
    with transaction.atomic():
        fresh = sms.get_connection(ttl=60)
        sms.send_sms("Fresh", "Acme", ["+441134960001"], connection=fresh)
    with transaction.atomic():
        later = sms.get_connection(send_after=due)
        sms.send_sms("Later", "Acme", ["+441134960002"], connection=later)
    return dict(Message.objects.values_list("body", "reference"))


def main(argv):
    django.setup()
    print(json.dumps(queue(float(argv[0]))))


if __name__ == "__main__":
    main(sys.argv[1:])
