"""The outbox tables: queued SMS, their attempt log, inbound SMS, opt-outs, guards."""

from __future__ import annotations

import datetime
import uuid

from django.db import models, router, transaction
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from sms.phone import mask_phone_number
from sms.segments import count_segments, get_encoding


def due_now() -> datetime.datetime:
    """Return when a row queued now is due: a millisecond ago, to the millisecond.

    The drain compares due times with the database's clock, and SQLite's
    (``Now()``) is text to the millisecond, compared as text: a row stamped
    with this very microsecond would sort after it, and not be due, to a
    drain that runs within the same millisecond.
    """
    now = timezone.now() - datetime.timedelta(milliseconds=1)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class MessageQuerySet(models.QuerySet["Message"]):
    """The queries the drain, the admin and the purge run on the outbox.

    The methods reach ``Message`` as ``self.model``; ``purge()`` deletes the
    attempt log through ``Attempt``, defined below.
    """

    def queued(self) -> MessageQuerySet:
        """Return rows waiting to be sent, due or not."""
        return self.filter(status=self.model.Status.QUEUED)

    def due(self, now: datetime.datetime | None = None) -> MessageQuerySet:
        """Return rows whose send time and retry time have come.

        Without ``now`` the database's clock decides, so hosts whose clocks
        disagree still agree on what is due.
        """
        return self.filter(next_attempt_at__lte=now or Now())

    def expired(self, now: datetime.datetime | None = None) -> MessageQuerySet:
        """Return rows held by a worker whose lease ran out (it likely died).

        Without ``now`` the database's clock decides: a host whose clock runs
        ahead must not take rows whose lease is still running.
        """
        return self.filter(
            status=self.model.Status.SENDING, lease_expires_at__lt=now or Now()
        )

    def in_send_order(self) -> MessageQuerySet:
        """Order by priority (higher first), then age (older first)."""
        return self.order_by("-priority", "id")

    def final(self) -> MessageQuerySet:
        """Return rows that reached sent, failed, cancelled or expired."""
        return self.filter(status__in=self.model.FINAL_STATUSES)

    # Maintenance: what the admin's actions and ``purge_sms_outbox`` do.

    def resend(self) -> int:
        """Queue a new copy of each sent, failed or cancelled row; return how many.

        The originals and their attempt logs stay as they are.
        """
        fields = (
            "batch_id",
            "body",
            "originator",
            "recipient",
            "kind",
            "priority",
            "time_zone",
            "replaced",
        )
        copies = [
            self.model(
                **{name: getattr(row, name) for name in fields},
                next_attempt_at=due_now(),
                reference=uuid.uuid4().hex,
            )
            for row in self.final().only(*fields)
        ]
        self.bulk_create(copies)
        return len(copies)

    def cancel(self) -> int:
        """Cancel the queued rows; return how many were cancelled."""
        now = timezone.now()
        return self.queued().update(
            status=self.model.Status.CANCELLED, finished_at=now, updated_at=now
        )

    def retry_now(self) -> int:
        """Make failed rows, and queued rows waiting for a retry, due now.

        Attempts are kept. Return the number of rows changed.
        """
        now = due_now()
        waiting = Q(status=self.model.Status.QUEUED, attempts__gt=0)
        return self.filter(Q(status=self.model.Status.FAILED) | waiting).update(
            status=self.model.Status.QUEUED,
            next_attempt_at=now,
            finished_at=None,
            updated_at=now,
        )

    def purge(self, days: int, batch_size: int = 500) -> int:
        """Delete final rows that reached their state over ``days`` days ago.

        Their attempt logs go with them. Queued and sending rows are never
        deleted. Work in batches to keep each transaction short; return the
        number of rows deleted.
        """
        # Deleting is writing: unless using() named a database, ask the
        # router where the outbox writes (self.db is where it reads).
        # (_db is the alias using() named; the stubs do not declare it.)
        alias = getattr(self, "_db", None) or router.db_for_write(self.model)
        cutoff = timezone.now() - datetime.timedelta(days=days)
        # Rows a send guard blocked are history too, once staff left them.
        finished = (*self.model.FINAL_STATUSES, self.model.Status.BLOCKED)
        old = self.using(alias).filter(status__in=finished, finished_at__lt=cutoff)
        deleted = 0
        while ids := list(old.values_list("pk", flat=True)[:batch_size]):
            with transaction.atomic(using=alias):
                Attempt.objects.using(alias).filter(message_id__in=ids).delete()
                rows = self.model.objects.using(alias).filter(pk__in=ids)
                deleted += rows.delete()[1].get(self.model._meta.label, 0)
        # Guard counters whose window ended long ago count nothing any more.
        stale = int(cutoff.timestamp())
        GuardCounter.objects.using(alias).filter(
            window_start__lt=stale, window_start__gt=0, blocked_until__lt=stale
        ).delete()
        return deleted


class Message(models.Model):
    """One SMS to one recipient, queued by ``QueuedSmsBackend``.

    A ``sms.Message`` with three recipients becomes three rows sharing a
    ``batch_id``, so a retry never re-sends to a recipient that already got it.
    A row waiting for a retry is ``queued`` with ``attempts > 0``.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled")
        EXPIRED = "expired", _("expired")
        BLOCKED = "blocked", _("blocked")

    class DeliveryStatus(models.TextChoices):
        QUEUED = "queued", _("queued")
        SENT = "sent", _("sent")
        DELIVERED = "delivered", _("delivered")
        UNDELIVERED = "undelivered", _("undelivered")
        FAILED = "failed", _("failed")
        EXPIRED = "expired", _("expired")

    FINAL_STATUSES = (Status.SENT, Status.FAILED, Status.CANCELLED, Status.EXPIRED)

    # Not indexed: nothing looks rows up by batch, and every index costs each
    # status change a write (see Meta).
    batch_id = models.UUIDField(_("batch id"))
    body = models.TextField(_("body"))
    originator = models.CharField(_("originator"), max_length=32, blank=True)
    recipient = models.CharField(_("recipient"), max_length=32)
    kind = models.CharField(
        _("kind"),
        max_length=32,
        blank=True,
        help_text=_("What the SMS is for, as the sender said (sms.Message.kind)."),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    priority = models.SmallIntegerField(
        _("priority"), default=0, help_text=_("Higher is sent first.")
    )
    send_after = models.DateTimeField(_("send after"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    expires_at = models.DateTimeField(
        _("expires at"),
        null=True,
        blank=True,
        help_text=_("Not sent after this time (sms_outbox.expiry)."),
    )
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        blank=True,
        help_text=_("The time zone quiet hours use, if the sender named one."),
    )
    replaced = models.TextField(
        _("characters replaced"),
        blank=True,
        help_text=_("What smart encoding replaced to fit the body into GSM-7."),
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    backend = models.CharField(_("backend"), max_length=255, blank=True)
    route = models.CharField(
        _("route"),
        max_length=64,
        blank=True,
        default="",
        db_default="",
        help_text=_("The SMS_ROUTES entry that picks its providers."),
    )
    provider = models.CharField(
        _("provider"),
        max_length=64,
        blank=True,
        default="",
        db_default="",
        help_text=_("The SMS_PROVIDERS alias tried last, or that sent it."),
    )
    provider_message_id = models.CharField(
        _("provider message id"), max_length=64, blank=True
    )
    reference = models.CharField(_("reference"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    claimed_by = models.CharField(_("claimed by"), max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(
        _("lease expires at"), null=True, blank=True
    )
    delivery_status = models.CharField(
        _("delivery status"),
        max_length=16,
        choices=DeliveryStatus.choices,
        blank=True,
    )
    delivery_status_raw = models.CharField(
        _("delivery status (raw)"), max_length=32, blank=True
    )
    delivery_error_code = models.CharField(
        _("delivery error code"), max_length=32, blank=True
    )
    delivery_updated_at = models.DateTimeField(
        _("delivery updated at"), null=True, blank=True
    )
    blocked_by = models.CharField(
        _("blocked by"),
        max_length=64,
        blank=True,
        help_text=_("The send guard rule that refused or held the SMS."),
    )
    confirmed_at = models.DateTimeField(
        _("confirmed at"),
        null=True,
        blank=True,
        help_text=_("When the app said the code in this SMS was used."),
    )

    objects = MessageQuerySet.as_manager()

    class Meta:
        verbose_name = _("queued SMS")
        verbose_name_plural = _("queued SMS")
        permissions = [("send_blocked", _("Can send SMS a guard blocked anyway"))]
        # Every index is paid for on each status change (PostgreSQL writes a
        # new entry in each one per UPDATE), so the text columns are indexed
        # here rather than with db_index=True, which on PostgreSQL adds a
        # second, LIKE-only index per column (docs/performance.md).
        # The drain's index: status first, in send order; reclaiming expired
        # leases and the purge also start from its status prefix.
        indexes = [
            models.Index(
                fields=["status", "-priority", "id"], name="sms_outbox_claim_idx"
            ),
            # No index on recipient: nothing the outbox does looks rows up by
            # number alone (the admin's search is a substring search, which
            # no B-tree serves), and it cost each status change an entry.
            # Partial: a claimed row has no provider id yet, so claiming one
            # (queued -> sending) writes nothing here. Lookups by provider id
            # repeat the condition (sms_outbox.receipts).
            models.Index(
                fields=["provider_message_id"],
                name="sms_outbox_provider_id_idx",
                condition=~Q(provider_message_id=""),
            ),
            models.Index(fields=["reference"], name="sms_outbox_reference_idx"),
            # Queue health (sms_outbox.health). Partial, so a claim (queued ->
            # sending) leaves the first and a row enters the second only when
            # it finishes: the drain's status changes barely touch them.
            models.Index(
                fields=["next_attempt_at"],
                name="sms_outbox_queued_due_idx",
                condition=Q(status="queued"),
            ),
            models.Index(
                fields=["finished_at", "status"],
                name="sms_outbox_finished_idx",
                condition=Q(finished_at__isnull=False),
            ),
            # Expiry (sms_outbox.expiry): only queued rows with a time to live
            # enter it, so rows without one never pay for it.
            models.Index(
                fields=["expires_at"],
                name="sms_outbox_expires_idx",
                condition=Q(status="queued", expires_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        # mask_phone_number() str()s its argument, so an unsaved or half-built
        # row still prints.
        return f"SMS to {mask_phone_number(self.recipient or '')} ({self.status})"

    @property
    def segments(self) -> int:
        """Return the number of parts the body is sent and billed as."""
        return count_segments(self.body or "")

    @property
    def encoding(self) -> str:
        """Return ``"GSM-7"`` or ``"UCS-2"``, the encoding the body needs."""
        return get_encoding(self.body or "")

    @property
    def is_final(self) -> bool:
        """Return True once the row is sent, failed, cancelled or expired."""
        return self.status in self.FINAL_STATUSES


class Attempt(models.Model):
    """One try at delivering a row: the drain's audit trail."""

    class Outcome(models.TextChoices):
        SENT = "sent", _("sent")
        RETRY = "retry", _("retry")
        FAILED = "failed", _("failed")
        UNKNOWN = "unknown", _("unknown")
        EXPIRED = "expired", _("expired")

    # No database constraint: the drain writes a hundred log rows per commit,
    # and the check PostgreSQL runs for each at commit cost more than the
    # INSERT. Rows are only logged against messages the same transaction has
    # just updated, and deleting messages through Django (the admin, the
    # purge) still deletes their log.
    message = models.ForeignKey(
        Message,
        on_delete=models.CASCADE,
        related_name="attempts_log",
        verbose_name=_("message"),
        db_constraint=False,
    )
    created_at = models.DateTimeField(_("at"), default=timezone.now)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    error_code = models.CharField(_("error code"), max_length=32, blank=True)
    error_text = models.TextField(_("error"), blank=True)
    duration_ms = models.FloatField(_("duration (ms)"), null=True, blank=True)
    provider = models.CharField(
        _("provider"),
        max_length=64,
        blank=True,
        default="",
        db_default="",
        help_text=_("The SMS_PROVIDERS alias this try went through."),
    )

    class Meta:
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")
        ordering = ["created_at", "id"]
        # Queue health's retries and error codes; successful sends, most of
        # the log, never enter it.
        indexes = [
            models.Index(
                fields=["created_at", "outcome", "error_code"],
                name="sms_outbox_attempt_error_idx",
                condition=Q(outcome__in=["retry", "failed", "unknown"]),
            )
        ]

    def __str__(self) -> str:
        return f"{self.outcome} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class Receipt(models.Model):
    """One delivery receipt that changed a row's delivery status.

    ``status`` is the normalised status (a ``Message.DeliveryStatus`` value),
    ``raw_status`` the provider's own word for it, and ``reported_at`` the
    provider's time of the status, when it sent one. Replays and stale
    receipts change nothing and are not stored.
    """

    message = models.ForeignKey(
        Message,
        on_delete=models.CASCADE,
        related_name="receipts",
        verbose_name=_("message"),
    )
    provider = models.CharField(_("provider"), max_length=32, blank=True)
    status = models.CharField(
        _("delivery status"), max_length=16, choices=Message.DeliveryStatus.choices
    )
    raw_status = models.CharField(_("provider status"), max_length=32, blank=True)
    error_code = models.CharField(_("error code"), max_length=32, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    reported_at = models.DateTimeField(_("reported at"), null=True, blank=True)
    created_at = models.DateTimeField(_("received at"), default=timezone.now)

    class Meta:
        verbose_name = _("delivery receipt")
        verbose_name_plural = _("delivery receipts")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.status} at {self.created_at:%Y-%m-%d %H:%M:%S}"


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


class GuardCounter(models.Model):
    """One send guard counter: SMS and spend in a window, or a prefix's conversions.

    ``key`` names what is counted and over which period (``sms_outbox.guards``
    builds it); ``window_start`` is when the current window began, in seconds
    since the epoch (0 for conversion counters, which reset by count). The
    enqueue adds to these rows with one atomic upsert, so the counts are
    exact under concurrent sends. Every column is an integer, so the
    arithmetic is exact on every database: spend is kept in millionths.
    A conversion counter whose ``blocked_until`` (seconds since the epoch)
    lies ahead blocks its prefix or country.
    """

    key = models.CharField(_("key"), max_length=100)
    window_start = models.BigIntegerField(_("window start"), default=0)
    hits = models.BigIntegerField(_("SMS counted"), default=0)
    spend_micros = models.BigIntegerField(_("spend (millionths)"), default=0)
    converted = models.BigIntegerField(_("confirmed"), default=0)
    blocked_until = models.BigIntegerField(_("blocked until"), default=0)
    block_reason = models.CharField(_("block reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("send guard counter")
        verbose_name_plural = _("send guard counters")
        constraints = [
            models.UniqueConstraint(fields=["key"], name="sms_outbox_guard_key_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.hits}"


class GuardBlock(GuardCounter):
    """A prefix or country the conversion guard blocked: the admin's view of it."""

    class Meta:
        proxy = True
        verbose_name = _("send block")
        verbose_name_plural = _("send blocks")


class GuardEvent(models.Model):
    """One block or lift of a prefix or country: the send guards' audit trail."""

    class Action(models.TextChoices):
        BLOCKED = "blocked", _("blocked")
        LIFTED = "lifted", _("lifted")

    scope = models.CharField(_("scope"), max_length=16)
    value = models.CharField(_("prefix or country"), max_length=32)
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    by = models.CharField(_("by"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("send block change")
        verbose_name_plural = _("send block changes")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.scope} {self.value} {self.action}"


class ProviderCircuit(models.Model):
    """The circuit breaker of one ``SMS_PROVIDERS`` alias, shared by every worker.

    ``failures`` counts the tries in a row the provider did not take;
    ``opened_until`` is when an open circuit lets one probe through
    (half-open), and ``probe_until`` when a probe that never reported back
    stops holding the alias. See ``sms_outbox.drain.breaker``.
    """

    alias = models.CharField(_("alias"), max_length=64, unique=True)
    failures = models.PositiveIntegerField(_("failures in a row"), default=0)
    opened_until = models.DateTimeField(_("open until"), null=True, blank=True)
    probe_until = models.DateTimeField(_("probe until"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("provider circuit")
        verbose_name_plural = _("provider circuits")

    def __str__(self) -> str:
        return f"{self.alias} ({self.failures} failures)"


class SendRate(models.Model):
    """The next free send slot of one provider account (or sender), site-wide.

    Every drain, on every host, reserves its slots here with one conditional
    UPDATE, so a rate set for an account holds for the whole site.
    ``next_at`` is a Unix time in seconds.
    """

    key = models.CharField(_("account"), max_length=255, primary_key=True)
    next_at = models.FloatField(_("next free slot"), default=0.0)

    class Meta:
        verbose_name = _("send rate")
        verbose_name_plural = _("send rates")

    def __str__(self) -> str:
        return str(self.key)


__all__ = [
    "Attempt",
    "GuardBlock",
    "GuardCounter",
    "GuardEvent",
    "InboundMessage",
    "Message",
    "MessageQuerySet",
    "ProviderCircuit",
    "Receipt",
    "SendRate",
    "Suppression",
    "SuppressionChange",
    "due_now",
]
