"""Create the demo superuser `admin` once and print how to start the server.

The demo page is for staff only, so this login is also the way onto it.
"""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

USERNAME = "admin"


class Command(BaseCommand):
    help = (
        "Create the superuser 'admin' (password from DEMO_ADMIN_PASSWORD, or a "
        "generated one printed once) and print how to run the demo."
    )

    def handle(self, *args, **options):
        password = os.environ.get("DEMO_ADMIN_PASSWORD", "")
        user_model = get_user_model()
        user = user_model.objects.filter(username=USERNAME).first()
        if user is None:
            generated = not password
            password = password or secrets.token_urlsafe(12)
            user_model.objects.create_superuser(USERNAME, "", password)
            if generated:
                note = f"password {password} (generated; shown only this once)"
            else:
                note = "the password from DEMO_ADMIN_PASSWORD"
        elif password:
            user.set_password(password)
            user.save(update_fields=["password"])
            note = "the password from DEMO_ADMIN_PASSWORD (updated)"
        else:
            note = (
                "the password printed on the first run (forgotten it? run "
                "DEMO_ADMIN_PASSWORD=... make demo to set a new one)"
            )
        self.stdout.write(
            "\nThe demo is ready.\n"
            "  Start the server:  make run\n"
            "  Demo page:         http://127.0.0.1:8000/ (staff only: log in first)\n"
            "  Admin:             http://127.0.0.1:8000/admin/\n"
            f"  Log in as:         {USERNAME}, {note}\n"
            "  Deliver the queue: DEBUG=1 .venv/bin/python manage.py send_queued_sms\n"
        )
