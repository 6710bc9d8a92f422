"""App configuration of the demo page."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DemoConfig(AppConfig):
    name = "example_project.demo"
    label = "demo"
    verbose_name = _("django-sms demo")
    default_auto_field = "django.db.models.BigAutoField"
