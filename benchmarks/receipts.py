"""Benchmark delivery receipts: signed callbacks per second and queries per callback.

For each provider it posts N signed status callbacks (signatures computed
before the clock starts) through Django's test client, each one changing the
delivery status of its own outbox row, then replays them all. Run from the
repository root:

    .venv/bin/python benchmarks/receipts.py [--count 2000] [--db sqlite|postgres]

PostgreSQL is reached at ``DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/postgres``) in a database of its own,
created and dropped by the benchmark.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _configure(db: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    if db == "postgres":
        os.environ.setdefault(
            "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
        )
        os.environ["SMS_TEST_DB_NAME"] = "bench_receipts"
    else:
        os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()


def _rows(prefix: str, count: int, recipient: str) -> list:
    from sms_outbox.models import Message

    batch = uuid.uuid4()
    return Message.objects.bulk_create(
        Message(
            batch_id=batch,
            body="Hello",
            recipient=recipient,
            status=Message.Status.SENT,
            provider_message_id=f"{prefix}{i:030d}",
            reference=uuid.uuid4().hex,
        )
        for i in range(count)
    )


def _twilio_requests(rows) -> list:
    from benchmarks._support import FORM, TWILIO_PATH, signed_twilio_callback

    requests = []
    for row in rows:
        body, headers = signed_twilio_callback(
            row.provider_message_id, "delivered", row.recipient
        )
        requests.append(("post", TWILIO_PATH, body, FORM, headers))
    return requests


def _messagebird_requests(rows) -> list:
    from benchmarks._support import signed_messagebird_report

    requests = []
    for row in rows:
        path, headers = signed_messagebird_report(
            row.provider_message_id, "delivered", row.recipient.lstrip("+")
        )
        requests.append(("get", path, None, None, headers))
    return requests


def _post_all(client, requests) -> float:
    started = time.perf_counter()
    for method, path, body, content_type, headers in requests:
        if method == "post":
            response = client.post(path, body, content_type, **headers)
        else:
            response = client.get(path, **headers)
        assert response.status_code == 200, response.content
    return time.perf_counter() - started


def _queries(client, request) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        _post_all(client, [request])
    return len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    _configure(args.db)

    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import setup_test_environment

    from benchmarks._support import RECEIPT_SETTINGS

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0)
    try:
        with override_settings(**RECEIPT_SETTINGS):
            client = Client()
            for provider, build, number in (
                ("twilio", _twilio_requests, "+441134960000"),
                ("messagebird", _messagebird_requests, "+31612345678"),
            ):
                rows = _rows(provider[:2].upper(), args.count + 1, number)
                requests = build(rows)
                queries = _queries(client, requests.pop())
                first = _post_all(client, requests)
                replay = _post_all(client, requests)
                print(
                    f"{args.db:8} {provider:11} {len(requests)} callbacks: "
                    f"{len(requests) / first:7.0f}/s recorded, "
                    f"{len(requests) / replay:7.0f}/s replayed, "
                    f"{queries} queries per recorded callback"
                )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
