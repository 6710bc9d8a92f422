"""Benchmark the drain against rate-limited fake providers: calls in flight, one rate.

Each scenario queues rows in a SQLite file (WAL, as the README recommends),
starts a fake provider on 127.0.0.1 in this process, and runs one or more
real ``send_queued_sms`` processes through the real backend and SDK over
real HTTP. It prints what the provider saw: the SMS per second it accepted
(from its first request to its last), the share of requests it answered
with a throttling 429, duplicates, and each drain's CPU time per SMS.

    .venv/bin/python benchmarks/throughput.py [--quick] [--only NAME]

Scenarios (``--quick`` divides the row counts by ten):

- ``twilio-5000`` / ``twilio-400``: fake Twilio answering in 150 ms and
  allowing 200 requests/s in any second (a 429 with ``Retry-After: 1``
  beyond), one drain at the default settings with ``SMS_OUTBOX_RATE = 190``
  (the account's limit less 5 %, as docs/outbox.md advises).
- ``twilio-4-drains``: the same 5,000 rows, four drains at once.
- ``twilio-no-rate``: 5,000 rows, one drain, no ``SMS_OUTBOX_RATE``: the
  drain finds the limit from the provider's 429s alone.
- ``twilio-rate-at-limit``: 5,000 rows, one drain, ``SMS_OUTBOX_RATE = 200``,
  exactly the limit.
- ``messagebird``: fake MessageBird at 150 ms, one body to distinct numbers,
  grouped in calls of 50, no limit.
- ``ceiling``: fake Twilio at 20 ms, no limit: SMS/s and CPU per SMS of one
  process.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

TWILIO = "benchmarks._support.FakeTwilioBackend"
MESSAGEBIRD = "benchmarks._support.FakeMessageBirdBackend"


def _configure() -> None:
    """Configure Django in a child process from its environment."""
    import django
    from django.conf import settings

    from sms.testing import FakeMessageBird, FakeTwilio

    rate = os.environ.get("BENCH_RATE")
    settings.configure(
        SECRET_KEY="benchmarks-only-not-secret",
        USE_TZ=True,
        INSTALLED_APPS=["sms", "sms_outbox"],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": os.environ["BENCH_DB"],
                "OPTIONS": {
                    "transaction_mode": "IMMEDIATE",
                    "timeout": 30,
                    "init_command": (
                        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL"
                    ),
                },
            }
        },
        SMS_OUTBOX_BACKEND=os.environ.get("BENCH_BACKEND", TWILIO),
        SMS_OUTBOX_RATE=float(rate) if rate else None,
        SMS_TIMEOUT=10,
        TWILIO_ACCOUNT_SID=FakeTwilio().account_sid,
        TWILIO_AUTH_TOKEN=FakeTwilio().auth_token,
        MESSAGEBIRD_ACCESS_KEY=FakeMessageBird().access_key,
        LOGGING_CONFIG=None,
    )
    django.setup()
    if os.environ.get("BENCH_LOG"):
        import logging

        logging.basicConfig(
            level=logging.INFO, format="%(relativeCreated)d %(message)s"
        )
        logging.getLogger("sms").setLevel(logging.WARNING)
        logging.getLogger("twilio").setLevel(logging.WARNING)


def _seed(count: int, one_body: bool) -> None:
    from django.core.management import call_command

    import sms

    call_command("migrate", verbosity=0)
    queued = sms.get_connection("sms_outbox.backends.QueuedSmsBackend")
    for start in range(0, count, 500):
        data = [
            (
                "Campaign" if one_body else f"Message {n}",
                "+12065550100",
                [f"+4411349{n:05d}"],
            )
            for n in range(start, min(count, start + 500))
        ]
        sms.send_mass_sms(data, connection=queued)


def _child(argv: list[str]) -> None:
    _configure()
    if argv[0] == "seed":
        _seed(int(argv[1]), argv[2] == "1")
        return
    from sms_outbox.drain.run import send_queued
    from sms_outbox.models import Message

    result = send_queued()
    left = collections.Counter(Message.objects.values_list("status", flat=True))
    figures = {"sent": result.sent, "retrying": result.retrying, "left": left}
    print(json.dumps({**figures, "seconds": round(result.seconds, 2)}))


def _spawn(env: dict[str, str], *args: str) -> subprocess.Popen:
    # Files, not pipes: the parent waits with wait4() (for the CPU time) and
    # a full pipe would block the child.
    out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", *args],
        env=env,
        cwd=ROOT,
        stdout=out,
        stderr=err,
        text=True,
    )
    process.files = (out, err)  # type: ignore[attr-defined]
    return process


def _wait(process: subprocess.Popen) -> tuple[str, str, float]:
    """Wait for ``process``; return its output and the CPU seconds it used."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    out, err = (_read(file) for file in process.files)
    if os.environ.get("BENCH_LOG"):
        sys.stderr.write(err)
    if process.returncode:
        raise RuntimeError(f"child failed: {err}")
    return out, err, usage.ru_utime + usage.ru_stime


def _read(file) -> str:
    file.seek(0)
    text = file.read()
    file.close()
    return text


def scenario(
    name: str,
    rows: int,
    *,
    drains: int = 1,
    latency: float = 0.15,
    limit: float | None = 200,
    rate: float | None = 190,
    messagebird: bool = False,
) -> dict:
    """Run one scenario; return what the provider saw and what the drains used."""
    from sms.testing import FakeMessageBird, FakeTwilio

    folder = tempfile.mkdtemp(prefix="throughput-bench-")
    try:
        env = {
            **os.environ,
            "BENCH_DB": os.path.join(folder, "outbox.sqlite3"),
            "BENCH_BACKEND": MESSAGEBIRD if messagebird else TWILIO,
            "BENCH_RATE": "" if rate is None else f"{rate:g}",
        }
        seed = _spawn(env, "seed", str(rows), "1" if messagebird else "0")
        _wait(seed)
        kind = FakeMessageBird if messagebird else FakeTwilio
        with kind(latency=latency, rate_limit=limit) as fake:
            env["OUTBOX_FAKE_URL"] = fake.url
            started = time.monotonic()
            children = [_spawn(env, "drain") for _ in range(drains)]
            outputs = [_wait(child) for child in children]
            wall = time.monotonic() - started
            return _figures(name, fake, rows, drains, outputs, wall, messagebird)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _figures(name, fake, rows, drains, outputs, wall, messagebird) -> dict:
    accepted = [at for at, throttled in fake.timeline if not throttled]
    if messagebird:
        numbers = [n for m in fake.messages for n in m["recipients"]]
    else:
        numbers = [m["body"] for m in fake.messages]
    delivered = len(numbers)
    duplicates = delivered - len(set(numbers))
    span = fake.timeline[-1][0] - fake.timeline[0][0] if fake.timeline else 0
    cpu = sum(cpu for _, _, cpu in outputs)
    figures = {
        "scenario": name,
        "drain_output": [out.strip() for out, _, _ in outputs],
        "rows": rows,
        "drains": drains,
        "delivered": delivered,
        "duplicates": duplicates,
        "requests": len(fake.timeline),
        "answered_429": fake.throttled,
        "share_429_percent": round(
            100 * fake.throttled / max(1, len(fake.timeline)), 2
        ),
        "provider_sms_per_s": round(delivered / span, 1) if span else None,
        "calls_per_s": round(len(accepted) / span, 1) if span else None,
        "wall_seconds": round(wall, 2),
        "cpu_ms_per_sms": round(1000 * cpu / max(1, delivered), 2),
    }
    print(json.dumps(figures), flush=True)
    return figures


SCENARIOS = {
    "twilio-5000": lambda scale: scenario("twilio-5000", 5000 // scale),
    "twilio-400": lambda scale: scenario("twilio-400", 400),
    "twilio-4-drains": lambda scale: scenario(
        "twilio-4-drains", 5000 // scale, drains=4
    ),
    "twilio-no-rate": lambda scale: scenario(
        "twilio-no-rate", 5000 // scale, rate=None
    ),
    "twilio-rate-at-limit": lambda scale: scenario(
        "twilio-rate-at-limit", 5000 // scale, rate=200
    ),
    "messagebird": lambda scale: scenario(
        "messagebird", 5000 // scale, limit=None, rate=None, messagebird=True
    ),
    "ceiling": lambda scale: scenario(
        "ceiling", 5000 // scale, latency=0.02, limit=None, rate=None
    ),
}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="A tenth of the rows.")
    parser.add_argument("--only", choices=sorted(SCENARIOS), action="append")
    options = parser.parse_args()
    results = collections.OrderedDict()
    for name in options.only or SCENARIOS:
        results[name] = SCENARIOS[name](10 if options.quick else 1)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
