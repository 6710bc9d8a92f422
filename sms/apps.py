"""App configuration for django-sms (optional: ``sms`` works uninstalled too)."""

from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class SmsConfig(AppConfig):
    name = "sms"
    verbose_name = _("SMS")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from sms.checks import check_sms_backend, check_sms_providers

        checks.register(check_sms_backend)
        checks.register(check_sms_providers)
