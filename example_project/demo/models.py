"""What the demo page keeps of its own: the sends that count against the limit."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Submission(models.Model):
    """One accepted form post: who queued how many SMS, and when.

    The outbox rows do not say who queued them, so the per-user rate limit
    (`example_project.demo.limits`) counts these rows instead; being in the
    database, the count holds across every web process.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, verbose_name=_("user")
    )
    sms_count = models.PositiveIntegerField(_("SMS queued"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("demo submission")
        verbose_name_plural = _("demo submissions")
        indexes = [models.Index(fields=["user", "created_at"])]

    def __str__(self) -> str:
        return f"{self.sms_count} SMS by user {self.user_id} at {self.created_at}"
