"""Enqueue guarded SMS from a child process, for the concurrent send guard tests.

Run as ``python -m tests.support.guard_child THREADS COUNT FIRST`` with
``DJANGO_SETTINGS_MODULE=tests.support.proc_settings``, ``OUTBOX_DB`` set and
``GUARDS`` holding ``SMS_GUARDS`` as JSON: THREADS threads each queue COUNT
one-recipient SMS, to numbers ``FIRST`` + 0, 1, ..., each in a transaction
of its own or in autocommit (alternately), as a site's requests would.
Prints the number queued and the number refused as JSON.
"""

import json
import os
import sys
import threading

import django


def enqueue(count, first, atomic, totals, lock):
    from django.db import connection, transaction

    import sms
    from sms.exceptions import SendRefused

    queued = sms.get_connection("sms_outbox.backends.QueuedSmsBackend")
    mine = {"queued": 0, "refused": 0}
    try:
        for n in range(count):
            number = f"+{int(first) + n}"
            try:
                if atomic:
                    with transaction.atomic():
                        sms.send_sms("Code 1234", "Acme", [number], connection=queued)
                else:
                    sms.send_sms("Code 1234", "Acme", [number], connection=queued)
                mine["queued"] += 1
            except SendRefused:
                mine["refused"] += 1
    finally:
        connection.close()
    with lock:
        for key, value in mine.items():
            totals[key] += value


def main(threads, count, first):
    django.setup()
    from django.test.utils import override_settings

    totals = {"queued": 0, "refused": 0}
    lock = threading.Lock()
    with override_settings(SMS_GUARDS=json.loads(os.environ["GUARDS"])):
        workers = [
            threading.Thread(
                target=enqueue,
                args=(count, int(first) + i * count, i % 2 == 0, totals, lock),
            )
            for i in range(threads)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    print(json.dumps(totals))


if __name__ == "__main__":
    main(*map(int, sys.argv[1:4]))
