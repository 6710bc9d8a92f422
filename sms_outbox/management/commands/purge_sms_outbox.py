"""Delete outbox rows that were sent, failed or cancelled more than N days ago."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sms_outbox.models import Message


class Command(BaseCommand):
    help = (
        "Delete sent, failed and cancelled outbox SMS (and their attempt logs) "
        "that reached that state more than --days days ago."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["days"] < 0:
            raise CommandError("--days must be 0 or more.")
        deleted = Message.objects.purge(options["days"])
        if options["verbosity"] > 0:
            self.stdout.write(f"Deleted {deleted} outbox SMS.")
