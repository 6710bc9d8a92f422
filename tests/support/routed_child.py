"""Queue, drain, requeue, receipt and purge on an outbox routed to its own database.

Run as ``python -m tests.support.routed_child`` with
``DJANGO_SETTINGS_MODULE=tests.support.routed_settings``; print what each
database holds afterwards as JSON. The ``default`` database has no outbox
table, so any outbox statement that ignored the router fails here.
"""

import collections
import datetime
import json

import django

GOOD, RETRIED, REJECTED = "+441134960000", "+441134960001", "+441134960002"


def main():
    django.setup()
    from django.core.management import call_command
    from django.db import connections
    from django.utils import timezone

    from sms_outbox.models import Attempt, Message
    from tests.support.outbox_backends import ScriptedBackend

    call_command("migrate", verbosity=0)
    call_command("migrate", database="outbox", verbosity=0)
    _queue()
    rows = Message.objects.using("outbox")
    # A worker that died holding a row: the next drain takes it back.
    rows.filter(body="Hello 0").update(
        status=Message.Status.SENDING,
        claimed_by="dead",
        lease_expires_at=timezone.now() - datetime.timedelta(minutes=1),
    )
    call_command("send_queued_sms", verbosity=0)
    attempts = Attempt.objects.using("outbox")
    report = {
        "default_tables": connections["default"].introspection.table_names(),
        "outbox_tables": connections["outbox"].introspection.table_names(),
        "receipt": _receipt(rows),
        "status": collections.Counter(rows.values_list("status", flat=True)),
        "outcomes": collections.Counter(attempts.values_list("outcome", flat=True)),
        "provider_calls": len(ScriptedBackend.sent),
    }
    rows.filter(status=Message.Status.SENT).update(
        finished_at=timezone.now() - datetime.timedelta(days=40)
    )
    report["purged"] = Message.objects.purge(30)
    report["left"] = rows.count()
    print(json.dumps(report))


def _queue():
    """Queue 150 SMS that go out, one the provider refuses for now, one for good."""
    import sms
    from sms.exceptions import ProviderUnavailable, RecipientRejected
    from tests.support.outbox_backends import ScriptedBackend

    ScriptedBackend.reset(
        {RETRIED: ProviderUnavailable("503"), REJECTED: RecipientRejected("no")}
    )
    queued = sms.get_connection("sms_outbox.backends.QueuedSmsBackend")
    sms.send_mass_sms(
        [(f"Hello {n}", "Acme", [GOOD]) for n in range(150)]
        + [("Retried", "Acme", [RETRIED]), ("Rejected", "Acme", [REJECTED])],
        connection=queued,
    )


def _receipt(rows):
    """Record a delivery report for the first sent row; return the outcome."""
    from sms_outbox.receipts import record_report
    from sms_outbox.webhooks.base import DeliveryReport

    first = rows.exclude(provider_message_id="").order_by("pk").first()
    report = DeliveryReport("scripted", first.provider_message_id, "delivered", "ok")
    return record_report(report).value


if __name__ == "__main__":
    main()
