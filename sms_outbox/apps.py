"""App configuration for the SMS outbox."""

from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class SmsOutboxConfig(AppConfig):
    name = "sms_outbox"
    verbose_name = _("SMS outbox")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from sms.recipients import register_recipient_check
        from sms_outbox.checks import (
            check_mysql_server,
            check_outbox_backend,
            check_receipt_settings,
            check_sqlite_locking,
            check_task_settings,
        )
        from sms_outbox.optout import check_recipients
        from sms_outbox.routing import check_routes
        from sms_outbox.schedule import check_quiet_hours

        checks.register(check_outbox_backend)
        checks.register(check_sqlite_locking)
        checks.register(check_mysql_server, checks.Tags.database)
        checks.register(check_receipt_settings)
        checks.register(check_task_settings)
        checks.register(check_quiet_hours)
        checks.register(check_routes)
        # Provider backends used directly refuse opted-out numbers too.
        register_recipient_check(check_recipients)
