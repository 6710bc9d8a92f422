"""Queue a few demo SMS through send_sms(), as an application would."""

from django.core.management.base import BaseCommand

from sms import send_sms

DEMO_MESSAGES = [
    ("Hello from django-sms! This SMS went through the outbox.", ["+441134960000"]),
    (
        "Two recipients, one call: each gets a row of its own.",
        ["+12065550100", "+31612345678"],
    ),
    (
        "Extension characters cost two septets: {braces}, [brackets], €5.",
        ["+441134960999"],
    ),
    ("Emoji switch the body to UCS-2 👋", ["+14155552671"]),
]


class Command(BaseCommand):
    help = "Queue a few demo SMS with send_sms() (SMS_BACKEND, the outbox by default)."

    def handle(self, *args, **options):
        for body, recipients in DEMO_MESSAGES:
            send_sms(body, None, recipients)
        rows = sum(len(recipients) for _, recipients in DEMO_MESSAGES)
        self.stdout.write(
            f"Queued {len(DEMO_MESSAGES)} SMS for {rows} recipients with send_sms()."
        )
