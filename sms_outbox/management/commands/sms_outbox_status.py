"""Print the outbox's queue health; exit non-zero when the queue looks stuck."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sms_outbox.health import QueueHealth, get_queue_health


class Command(BaseCommand):
    help = (
        "Print the outbox's figures: rows by status, rows due now, the oldest "
        "due row's wait, expired leases, the last 24 hours and each provider "
        "alias's circuit."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print the figures as JSON (default: text).",
        )
        parser.add_argument(
            "--series",
            action="store_true",
            help="With --json, add per_10_minutes: sent, failed and retried in "
            "each 10 minutes of the last 24 hours (default: left out).",
        )
        parser.add_argument(
            "--max-age",
            type=float,
            metavar="SECONDS",
            help="Exit with status 1 when the oldest due row has waited longer "
            "(default: never).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        max_age = options["max_age"]
        if max_age is not None and max_age < 0:
            raise CommandError(f"--max-age must be 0 or more seconds, not {max_age}.")
        if options["series"] and not options["json"]:
            raise CommandError("--series needs --json: the text has no series.")
        health = get_queue_health()
        if options["json"]:
            figures = health.as_dict(series=options["series"])
            self.stdout.write(json.dumps(figures, indent=2))
        elif options["verbosity"] > 0:
            self.stdout.write(_text(health))
        waited = health.oldest_due_seconds
        if max_age is not None and waited > max_age:
            raise CommandError(
                f"The oldest due SMS has waited {waited:.0f} s, more than "
                f"--max-age {max_age:g} s: is send_queued_sms running?"
            )


def _text(health: QueueHealth) -> str:
    statuses = ", ".join(f"{name} {n}" for name, n in health.by_status.items())
    errors = ", ".join(f"{code} ×{n}" for code, n in health.top_errors) or "none"
    return "\n".join(
        [
            f"Outbox at {health.at:%Y-%m-%d %H:%M:%S %Z}",
            f"rows: {statuses}",
            _due(health),
            f"sending past their lease: {health.lease_expired}",
            f"last hour: sent {health.sent_last_hour}, "
            f"failed {health.failed_last_hour}",
            f"last 24 h: sent {health.sent_last_day}, failed "
            f"{health.failed_last_day}, retried {health.retried_last_day}",
            f"error codes (24 h): {errors}",
            *(
                f"provider {p['alias']}: circuit {p['state']}, "
                f"{p['failures']} failure(s) in a row"
                + (
                    f", open until {p['opened_until']:%Y-%m-%d %H:%M:%S %Z}"
                    if p["state"] == "open"
                    else ""
                )
                for p in health.providers
            ),
        ]
    )


def _due(health: QueueHealth) -> str:
    if not health.due:
        return "due now: nothing"
    return (
        f"due now: {health.due}, the oldest waiting {health.oldest_due_seconds:.0f} s"
    )
