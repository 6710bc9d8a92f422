"""Benchmark the four provider backends against the fake provider servers.

Sends 500 single-recipient messages through each backend, over the real SDK
and real HTTP to a fake API on 127.0.0.1, and prints messages per second and
the TCP connections the fake server accepted. Run from the repository root:

    .venv/bin/python benchmarks/providers.py [--count 500] [--latency 0]

Three ways of sending: ``open()`` once then ``Message.send()`` per message (a
worker's loop), one ``send_messages()`` call with every message, and, for
Twilio and MessageBird, the SDK's default transport without a pooled session
(what django-sms 0.7.0 did: a new connection per call). Amazon SNS runs
against ``FakeSns`` (boto3 signs every request; moto would measure moto).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

import django  # noqa: E402

django.setup()

import sms  # noqa: E402
from sms.backends import aws, messagebird, twilio, vonage  # noqa: E402
from sms.testing import FakeMessageBird, FakeSns, FakeTwilio, FakeVonage  # noqa: E402

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
            sent = sum(sms.message.send_messages(backend, [m]) for m in messages)
    if sent != count:
        raise SystemExit(f"only {sent} of {count} messages were sent")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds")
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
