"""Send the SMS waiting in the outbox: once (for cron) or in a loop (a worker)."""

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from sms.exceptions import SmsConfigurationError
from sms_outbox.engine import DEFAULT_BATCH_SIZE, send_queued


class Command(BaseCommand):
    help = "Send due SMS from the outbox through SMS_OUTBOX_BACKEND."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, help="Send at most this many.")
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
        parser.add_argument("--rate", type=float, help="At most this many per second.")
        parser.add_argument("--concurrency", type=int, default=1)
        parser.add_argument("--loop", action="store_true", help="Run until stopped.")
        parser.add_argument("--interval", type=float, default=5.0)

    def handle(self, **options):
        stop = threading.Event()
        previous = _on_stop_signals(lambda *args: stop.set())
        tty = options["verbosity"] > 0 and self.stdout.isatty()
        try:
            while not stop.is_set():
                try:
                    result = send_queued(
                        limit=options["limit"],
                        batch_size=options["batch_size"],
                        rate=options["rate"],
                        concurrency=options["concurrency"],
                        stop=stop,
                        progress=self._progress if tty else None,
                    )
                except SmsConfigurationError as err:
                    raise CommandError(str(err)) from err
                if options["verbosity"] > 0 and (result.total or not options["loop"]):
                    self.stdout.write(("\n" if tty else "") + str(result))
                if result.error is not None:
                    raise CommandError(f"Stopped: {result.error}") from result.error
                if not options["loop"] or stop.wait(options["interval"]):
                    break
        finally:
            _restore_signals(previous)

    def _progress(self, result):
        self.stdout.write(f"\r{result}", ending="")
        self.stdout.flush()


def _on_stop_signals(handler):
    """Install ``handler`` for SIGTERM and SIGINT; return the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}


def _restore_signals(previous):
    for sig, handler in previous.items():
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
