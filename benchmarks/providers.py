"""Benchmark the four provider backends against the fake provider servers.

Sends 500 single-recipient messages through each backend, over the real SDK
and real HTTP to a fake API on 127.0.0.1, and prints messages per second and
the TCP connections the fake server accepted. Then drains 500 queued rows
(one body and originator, distinct recipients) through the outbox to a fake
MessageBird answering after 50 ms, with ``SMS_OUTBOX_GROUP_SENDS`` off and
on, and prints messages per second and the API calls the fake received. Run
from the repository root:

    .venv/bin/python benchmarks/providers.py [--count 500] [--latency 0] \
        [--outbox-count 500] [--outbox-latency 0.05]

Three ways of sending: ``open()`` once then ``Message.send()`` per message (a
worker's loop), one ``send_messages()`` call with every message, and, for
Twilio and MessageBird, the SDK's default transport without a pooled session
(what django-sms 0.7.0 did: a new connection per call). Amazon SNS runs
against ``FakeSns`` (boto3 signs every request; moto would measure moto).
The outbox rows live in a SQLite file in a temporary folder, set up as the
README recommends; the benchmark configures Django itself. With the outbox
installed, every direct send also asks its suppression list (one query).
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

import django  # noqa: E402
from django.conf import settings  # noqa: E402

_FOLDER = tempfile.mkdtemp(prefix="providers-bench-")
atexit.register(shutil.rmtree, _FOLDER, ignore_errors=True)
settings.configure(
    SECRET_KEY="benchmarks-only-not-secret",
    USE_TZ=True,
    INSTALLED_APPS=["sms", "sms_outbox"],
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.path.join(_FOLDER, "outbox.sqlite3"),
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
            },
        }
    },
)
django.setup()

from django.core.management import call_command  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

import sms  # noqa: E402
from benchmarks._support import FakeMessageBirdBackend  # noqa: E402
from sms.backends import aws, messagebird, twilio, vonage  # noqa: E402
from sms.testing import FakeMessageBird, FakeSns, FakeTwilio, FakeVonage  # noqa: E402
from sms_outbox.drain.run import send_queued  # noqa: E402
from sms_outbox.models import Message as OutboxMessage  # noqa: E402

MODES = (
    ("open", "open() + send() each", False),
    ("batch", "one send_messages()", False),
    ("open", "no pooled session (0.7.0)", True),
)
ORIGINATOR = "+12065550100"
RECIPIENT = "+441134960000"


def _twilio(fake: FakeTwilio, unpooled: bool) -> sms.BaseSmsBackend:
    http_client = twilio.PooledHttpClient(fake.url, 10) if unpooled else None
    return twilio.SmsBackend(
        api_url=fake.url,
        account_sid=fake.account_sid,
        auth_token=fake.auth_token,
        http_client=http_client,
    )


def _messagebird(fake: FakeMessageBird, unpooled: bool) -> sms.BaseSmsBackend:
    key = fake.access_key
    http_client = messagebird.PooledHttpClient(key, fake.url, 10) if unpooled else None
    return messagebird.SmsBackend(
        api_url=fake.url, access_key=key, http_client=http_client
    )


def _aws(fake: FakeSns, unpooled: bool) -> sms.BaseSmsBackend:
    return aws.SmsBackend(
        api_url=fake.url,
        region_name="eu-west-1",
        aws_access_key_id=fake.access_key,
        aws_secret_access_key=fake.secret_key,
    )


def _vonage(fake: FakeVonage, unpooled: bool) -> sms.BaseSmsBackend:
    return vonage.SmsBackend(
        api_url=fake.url, api_key=fake.api_key, api_secret=fake.api_secret
    )


def _run(backend: sms.BaseSmsBackend, mode: str, count: int) -> None:
    messages = [
        sms.Message(f"Benchmark {n}", ORIGINATOR, [RECIPIENT]) for n in range(count)
    ]
    if mode == "batch":
        sent = backend.send_messages(messages)
    else:
        with backend:
            sent = sum(sms.message.send_and_signal(backend, [m]) for m in messages)
    if sent != count:
        raise SystemExit(f"only {sent} of {count} messages were sent")


def _drain(fake: FakeMessageBird, count: int, group: bool) -> float:
    """Queue ``count`` rows, drain them to ``fake``; return messages per second."""
    OutboxMessage.objects.all().delete()
    # Ofcom's drama range: 1,000 valid numbers that reach nobody.
    data = [("Your code is 4711", "Acme", [f"+44113496{n:04d}"]) for n in range(count)]
    queued = sms.get_connection("sms_outbox.backends.QueuedSmsBackend")
    sms.send_mass_sms(data, connection=queued)
    fake.reset()
    with override_settings(SMS_OUTBOX_GROUP_SENDS=group):
        result = send_queued()
    if result.sent != count:
        raise SystemExit(f"the drain sent {result} of {count} rows")
    return count / result.seconds


def _outbox(count: int, latency: float) -> None:
    """Print the drain through MessageBird with and without grouped sends."""
    print(
        f"\n{count} queued rows, one body and originator, MessageBird through "
        f"the outbox, fake latency {latency * 1000:.0f} ms"
    )
    print(f"{'SMS_OUTBOX_GROUP_SENDS':<24} {'msg/s':>8} {'API calls':>10}")
    with FakeMessageBird(latency=latency) as fake:
        FakeMessageBirdBackend.fake_url = fake.url
        with override_settings(
            SMS_OUTBOX_BACKEND="benchmarks._support.FakeMessageBirdBackend",
            MESSAGEBIRD_ACCESS_KEY=fake.access_key,
        ):
            for group in (False, True):
                rate = _drain(fake, count, group)
                print(f"{group!s:<24} {rate:>8.0f} {len(fake.requests):>10}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds")
    parser.add_argument("--outbox-count", type=int, default=500, help="at most 1000")
    parser.add_argument("--outbox-latency", type=float, default=0.05, help="seconds")
    args = parser.parse_args()
    if not 0 < args.outbox_count <= 1000:
        parser.error("--outbox-count must be between 1 and 1000 (distinct numbers)")
    # The outbox is installed, so every send asks its suppression list too.
    call_command("migrate", verbosity=0)
    print(f"{args.count} messages, 1 recipient each, fake latency {args.latency}s")
    print(f"{'backend':<12} {'mode':<28} {'msg/s':>8} {'connections':>12}")
    for name, fake_class, build, modes in (
        ("twilio", FakeTwilio, _twilio, MODES),
        ("messagebird", FakeMessageBird, _messagebird, MODES),
        ("aws", FakeSns, _aws, MODES[:2]),
        ("vonage", FakeVonage, _vonage, MODES[:2]),
    ):
        for mode, label, unpooled in modes:
            with fake_class(latency=args.latency) as fake:
                backend = build(fake, unpooled)
                started = time.perf_counter()
                _run(backend, mode, args.count)
                rate = args.count / (time.perf_counter() - started)
                print(f"{name:<12} {label:<28} {rate:>8.0f} {fake.connections:>12}")
    _outbox(args.outbox_count, args.outbox_latency)


if __name__ == "__main__":
    main()
