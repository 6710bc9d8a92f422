"""The inbound tables: SMS received, and the suppression list they feed.

``sms_outbox.models`` imports these classes at its end, so Django registers
them with the app and callers import them from ``sms_outbox.models``.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from sms.phone import mask_phone_number

__all__ = ["InboundMessage", "Suppression", "SuppressionChange"]


class InboundMessage(models.Model):
    """One SMS received through a provider's inbound webhook, stored once.

    ``sender`` texted ``recipient`` (one of our numbers). A provider that
    retries a webhook sends the same ``provider_message_id`` again, which the
    unique constraint turns into a no-op. ``action`` says what the body did:
    opted the sender out or in, asked for help, or nothing.
    """

    class Action(models.TextChoices):
        NONE = "", _("none")
        OPT_OUT = "opt_out", _("opt-out")
        OPT_IN = "opt_in", _("opt-in")
        HELP = "help", _("help")

    provider = models.CharField(_("provider"), max_length=32)
    provider_message_id = models.CharField(_("provider message id"), max_length=64)
    sender = models.CharField(_("sender"), max_length=32)
    recipient = models.CharField(_("recipient"), max_length=32, blank=True)
    body = models.TextField(_("body"), blank=True)
    action = models.CharField(
        _("action"), max_length=16, choices=Action.choices, blank=True
    )
    received_at = models.DateTimeField(_("received at"), default=timezone.now)

    class Meta:
        verbose_name = _("inbound SMS")
        verbose_name_plural = _("inbound SMS")
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_message_id"],
                name="sms_outbox_inbound_provider_id_uniq",
            )
        ]
        indexes = [
            models.Index(fields=["-received_at"], name="sms_outbox_inbound_recv_idx"),
            models.Index(fields=["sender"], name="sms_outbox_inbound_sender_idx"),
        ]

    def __str__(self) -> str:
        return f"SMS from {mask_phone_number(self.sender or '')} ({self.provider})"


class Suppression(models.Model):
    """A number that must not be texted: it opted out, or a provider said so.

    One row per number, in E.164. Sends look numbers up by the unique index,
    one query per batch.
    """

    class Source(models.TextChoices):
        KEYWORD = "keyword", _("inbound keyword")
        PROVIDER = "provider", _("provider error")
        ADMIN = "admin", _("admin")
        API = "api", _("code")

    phone_number = models.CharField(_("phone number"), max_length=32)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    created_at = models.DateTimeField(_("suppressed at"), default=timezone.now)

    class Meta:
        verbose_name = _("suppressed number")
        verbose_name_plural = _("suppressed numbers")
        ordering = ["-created_at", "-id"]
        # A constraint, not unique=True: on PostgreSQL the latter adds a
        # second, LIKE-only index that no lookup here uses.
        constraints = [
            models.UniqueConstraint(
                fields=["phone_number"], name="sms_outbox_suppression_number_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{mask_phone_number(self.phone_number or '')} ({self.source})"


class SuppressionChange(models.Model):
    """One addition to or removal from the suppression list: the audit trail."""

    class Change(models.TextChoices):
        ADDED = "added", _("added")
        REMOVED = "removed", _("removed")

    phone_number = models.CharField(_("phone number"), max_length=32)
    change = models.CharField(_("change"), max_length=16, choices=Change.choices)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    source = models.CharField(
        _("source"), max_length=16, choices=Suppression.Source.choices
    )
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("suppression change")
        verbose_name_plural = _("suppression changes")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["phone_number"], name="sms_outbox_supp_change_idx")
        ]

    def __str__(self) -> str:
        return f"{mask_phone_number(self.phone_number or '')} {self.change}"
