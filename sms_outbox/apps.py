"""App configuration for the SMS outbox."""

from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class SmsOutboxConfig(AppConfig):
    name = "sms_outbox"
    verbose_name = _("SMS outbox")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from sms.guards import register_send_guard
        from sms.recipients import register_recipient_check
        from sms_outbox.checks import (
            check_guard_countries,
            check_guard_settings,
            check_migrations,
            check_mysql_server,
            check_outbox_backend,
            check_receipt_settings,
            check_sqlite_locking,
            check_task_settings,
        )
        from sms_outbox.guards import check_direct_sends
        from sms_outbox.optout import check_recipients
        from sms_outbox.routing import check_routes
        from sms_outbox.schedule import check_quiet_hours

        checks.register(check_outbox_backend)
        # Printed by send_queued_sms --concurrency, where it matters; on
        # every command it would reach cron's mail every minute.
        checks.register(check_sqlite_locking, deploy=True)
        checks.register(check_migrations, checks.Tags.database)
        checks.register(check_mysql_server, checks.Tags.database)
        checks.register(check_receipt_settings)
        checks.register(check_task_settings)
        checks.register(check_quiet_hours)
        checks.register(check_guard_settings)
        # Production only: manage.py check --deploy.
        checks.register(check_guard_countries, checks.Tags.security, deploy=True)
        checks.register(check_routes)
        # Provider backends used directly refuse opted-out numbers too.
        register_recipient_check(check_recipients)
        # Direct sends meet the send guards (SMS_GUARDS) too.
        register_send_guard(check_direct_sends)
