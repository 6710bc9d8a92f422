"""Show the suppression list at work: a send to a number that replied STOP."""

from django.core.management.base import BaseCommand

from sms import send_sms
from sms.exceptions import RecipientOptedOut
from sms.phone import mask_phone_number


class Command(BaseCommand):
    help = "Try to text NUMBER and say whether the suppression list refused it."

    def add_arguments(self, parser):
        parser.add_argument("number")

    def handle(self, *args, number, **options):
        masked = mask_phone_number(number)
        try:
            send_sms("Are you still there?", None, [number])
        except RecipientOptedOut as err:
            self.stdout.write(f"Refused, as it should be: {err}")
        else:
            self.stdout.write(f"Queued an SMS to {masked}: it is not opted out.")
