"""Send the SMS waiting in the outbox: once (for cron) or in a loop (a worker)."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from sms.exceptions import SmsConfigurationError
from sms_outbox.checks import check_sqlite_locking
from sms_outbox.drain.run import DEFAULT_BATCH_SIZE, DrainResult
from sms_outbox.drain.worker import drain_until_stopped


class Command(BaseCommand):
    help = "Send due SMS from the outbox through SMS_OUTBOX_BACKEND."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--limit",
            type=int,
            help="Send at most this many SMS per run (default: no limit).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help="Claim at most this many rows at a time; smaller claims follow "
            "the provider's pace (default: %(default)s).",
        )
        parser.add_argument(
            "--rate",
            type=float,
            help="At most this many SMS per second, for every drain of the site "
            "together (default: SMS_OUTBOX_RATE).",
        )
        parser.add_argument(
            "--concurrency",
            type=int,
            default=None,
            help="Provider calls in flight at once (default: "
            "SMS_OUTBOX_MAX_IN_FLIGHT, 32).",
        )
        parser.add_argument(
            "--loop",
            action="store_true",
            help="Run until SIGTERM or SIGINT, riding out database outages and "
            "account errors (default: one run, for cron).",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=5.0,
            help="With --loop, the seconds to wait between runs (default: "
            "%(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("limit", "batch_size", "rate", "concurrency", "interval"):
            if options[name] is not None and options[name] <= 0:
                flag = "--" + name.replace("_", "-")
                raise CommandError(
                    f"{flag} must be greater than 0, not {options[name]}."
                )
        if (options["concurrency"] or 1) > 1:
            self._warn_about_locking()
        verbose, loop = options["verbosity"] > 0, options["loop"]
        tty = verbose and self.stdout.isatty()
        results = drain_until_stopped(
            loop=loop,
            interval=options["interval"],
            limit=options["limit"],
            batch_size=options["batch_size"],
            rate=options["rate"],
            concurrency=options["concurrency"],
            progress=self._progress if tty else None,
        )
        try:
            for result in results:
                if verbose and (result.total or not loop):
                    self.stdout.write(("\n" if tty else "") + str(result))
                if result.error is not None:
                    raise CommandError(f"Stopped: {result.error}") from result.error
        except SmsConfigurationError as err:
            raise CommandError(str(err)) from err
        except DatabaseError as err:
            raise CommandError(
                f"Stopped: the database failed ({err}). Rows this run held go back "
                "to the queue when their lease runs out; run --loop to ride out "
                "outages."
            ) from err
        finally:
            results.close()

    def _warn_about_locking(self) -> None:
        """Print ``sms_outbox.W001`` where it matters: threads sharing SQLite.

        Not a system check on every command: a site that drains one run at a
        time needs none of it, and cron would mail the warning every minute.
        """
        silenced = set(settings.SILENCED_SYSTEM_CHECKS)
        for warning in check_sqlite_locking():
            if warning.id not in silenced:
                self.stderr.write(self.style.WARNING(str(warning)))

    def _progress(self, result: DrainResult) -> None:
        self.stdout.write(f"\r{result}", ending="")
        self.stdout.flush()
