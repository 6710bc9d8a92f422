"""App configuration for the SMS outbox."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SmsOutboxConfig(AppConfig):
    name = "sms_outbox"
    verbose_name = _("SMS outbox")
    default_auto_field = "django.db.models.BigAutoField"
