"""The outbox in the Django admin: rows and attempts, actions, filters, health."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, ngettext_lazy

from sms.pricing import estimate_cost
from sms_outbox.admin.chart import lay_out_chart
from sms_outbox.admin.inbound import recipient_suppressed
from sms_outbox.guards import send_anyway
from sms_outbox.health import ERROR_OUTCOMES, WINDOW, get_queue_health, get_spend
from sms_outbox.models import Attempt, Message, MessageQuerySet, Receipt

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    # Type checkers see the ModelAdmin the mixin is combined with.
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = object


class MessageActions(_ModelAdmin):
    """The change list's actions, each reporting what it did and skipped."""

    def _report(
        self,
        request: HttpRequest,
        done: int,
        selected: int,
        done_text: StrOrPromise,
        skipped_reason: StrOrPromise,
    ) -> None:
        """Tell staff how many rows the action changed, and why others were not."""
        self.message_user(request, done_text % {"count": done}, messages.SUCCESS)
        skipped = selected - done
        if skipped > 0:
            self.message_user(
                request,
                ngettext(
                    "%(count)d selected message skipped: %(reason)s",
                    "%(count)d selected messages skipped: %(reason)s",
                    skipped,
                )
                % {"count": skipped, "reason": skipped_reason},
                messages.WARNING,
            )

    @admin.action(description=_("Resend selected messages"), permissions=["change"])
    def resend(self, request: HttpRequest, queryset: MessageQuerySet) -> None:
        """Queue a new copy of each sent, failed or cancelled row."""
        selected = queryset.count()
        self._report(
            request,
            queryset.resend(),
            selected,
            ngettext_lazy(
                "Queued %(count)d new copy for sending.",
                "Queued %(count)d new copies for sending.",
                "count",
            ),
            _("only sent, failed or cancelled messages can be resent."),
        )

    @admin.action(description=_("Cancel selected messages"), permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: MessageQuerySet) -> None:
        """Cancel queued rows; rows already sending or final are left alone."""
        selected = queryset.count()
        self._report(
            request,
            queryset.cancel(),
            selected,
            ngettext_lazy(
                "Cancelled %(count)d message.", "Cancelled %(count)d messages.", "count"
            ),
            _("only queued messages can be cancelled."),
        )

    @admin.action(description=_("Retry selected messages now"), permissions=["change"])
    def retry_now(self, request: HttpRequest, queryset: MessageQuerySet) -> None:
        """Make failed rows, and queued rows waiting for a retry, due now."""
        selected = queryset.count()
        self._report(
            request,
            queryset.retry_now(),
            selected,
            ngettext_lazy(
                "%(count)d message will be retried on the next drain.",
                "%(count)d messages will be retried on the next drain.",
                "count",
            ),
            _(
                "only failed messages and queued messages waiting for a retry "
                "can be retried."
            ),
        )

    @admin.action(
        description=_("Send selected blocked messages anyway"),
        permissions=["send_blocked"],
    )
    def send_anyway(self, request: HttpRequest, queryset: MessageQuerySet) -> None:
        """Queue rows a send guard blocked or held, for staff who checked them."""
        selected = queryset.count()
        self._report(
            request,
            send_anyway(queryset),
            selected,
            ngettext_lazy(
                "Queued %(count)d blocked message for sending.",
                "Queued %(count)d blocked messages for sending.",
                "count",
            ),
            _("only blocked messages can be sent anyway."),
        )

    def has_send_blocked_permission(self, request: HttpRequest) -> bool:
        """Return True when the user may send what a guard blocked."""
        return request.user.has_perm(f"{self.opts.app_label}.send_blocked")


# The list cell ellipsises the body to its width (admin.css); this only keeps
# the page small when bodies are long.
_BODY_PREVIEW_CHARS = 80


class MessageColumns:
    """The change list's columns and the computed fields of the change form."""

    @admin.display(description=_("body"))
    def body_preview(self, obj: Message) -> str:
        """Return the start of the body; the full body is its tooltip."""
        return format_html(
            '<span class="sms-body" title="{}">{}</span>',
            Truncator(obj.body).chars(500),
            Truncator(obj.body).chars(_BODY_PREVIEW_CHARS),
        )

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj: Message) -> str:
        """Return the status as a badge whose text, not only colour, says it."""
        return _badge("status", obj.status, obj.get_status_display())

    @admin.display(description=_("delivery"), ordering="delivery_status")
    def delivery_badge(self, obj: Message) -> str:
        """Return the delivery status as a badge, or a dash before any report."""
        if not obj.delivery_status:
            return "–"
        return _badge(
            "delivery", obj.delivery_status, obj.get_delivery_status_display()
        )

    @admin.display(description=_("tries"), ordering="attempts")
    def attempts_count(self, obj: Message) -> int:
        """Return the number of send attempts so far."""
        return obj.attempts

    @admin.display(description=_("when"), ordering="created_at")
    def when(self, obj: Message) -> str:
        """Return when the row was queued, short; all its times in the tooltip."""
        times = [
            (_("created"), obj.created_at),
            (_("next attempt"), obj.next_attempt_at),
            (_("sent"), obj.sent_at),
            (_("finished"), obj.finished_at),
        ]
        tooltip = "\n".join(
            f"{label}: {date_format(timezone.localtime(at), 'Y-m-d H:i:s')}"
            for label, at in times
            if at is not None
        )
        return format_html(
            '<time datetime="{}" title="{}">{}</time>',
            obj.created_at.isoformat(),
            tooltip,
            _compact_time(obj.created_at),
        )

    @admin.display(description=_("parts"))
    def segments(self, obj: Message) -> int:
        """Return the number of parts the body is billed as."""
        return obj.segments

    @admin.display(description=_("encoding"))
    def encoding(self, obj: Message) -> str:
        """Return GSM-7 or UCS-2."""
        return obj.encoding

    @admin.display(description=_("parts · cost"))
    def parts_and_cost(self, obj: Message) -> str:
        """Return the parts the body is billed as and, with ``SMS_PRICES``, the cost."""
        cost = estimate_cost(obj.body or "", obj.recipient or "")
        return f"{obj.segments}" if cost is None else f"{obj.segments} · {cost}"


def _badge(kind: str, value: str, label: str) -> str:
    return format_html(
        '<span class="sms-badge sms-{}-{}">{}</span>', kind, value, label
    )


def _compact_time(at: datetime.datetime) -> str:
    """Return "14:05" today, "28 Nov 14:05" this year, "2025-11-28" before."""
    local, today = timezone.localtime(at), timezone.localdate()
    if local.date() == today:
        return date_format(local, "H:i")
    if local.year == today.year:
        return date_format(local, "j M H:i")
    return date_format(local, "Y-m-d")


if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    Lookups = tuple[tuple[str, StrOrPromise], ...]


class QueueFilter(admin.SimpleListFilter):
    """Split the unfinished rows by what the drain will do with them."""

    title = _("queue")
    parameter_name = "queue"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> Lookups:
        return (
            ("due", _("due now")),
            ("waiting", _("waiting (scheduled or retry)")),
            ("lease_expired", _("sending, lease expired")),
        )

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Any]
    ) -> QuerySet[Message]:
        # The outbox admin's rows: Message.objects, a MessageQuerySet.
        rows = cast(MessageQuerySet, queryset)
        now = timezone.now()
        if self.value() == "due":
            return rows.queued().due(now)
        if self.value() == "waiting":
            return rows.queued().filter(next_attempt_at__gt=now)
        if self.value() == "lease_expired":
            return rows.expired(now)
        return rows


class FinishedFilter(admin.SimpleListFilter):
    """Rows that became sent, failed or cancelled lately (``finished_at``)."""

    title = _("finished")
    parameter_name = "finished"
    _SPANS = {"1h": datetime.timedelta(hours=1), "24h": WINDOW}

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> Lookups:
        return (("1h", _("in the last hour")), ("24h", _("in the last 24 hours")))

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        span = self._SPANS.get(self.value() or "")
        if span is None:
            return queryset
        return queryset.filter(finished_at__gte=timezone.now() - span)


class ErrorCodeFilter(admin.SimpleListFilter):
    """Rows whose send attempts logged an error code in the last 24 hours.

    Listed only while selected (from the health page's error codes): listing
    every code in the sidebar would cost a query on each page load.
    """

    title = _("error code (24 h)")
    parameter_name = "error_code"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> Lookups:
        value = self.value()
        return ((value, value),) if value else ()

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if not self.value():
            return queryset
        rows = Attempt.objects.order_by().filter(
            outcome__in=ERROR_OUTCOMES,
            created_at__gte=timezone.now() - WINDOW,
            error_code=self.value(),
        )
        return queryset.filter(pk__in=rows.values("message_id"))


#: The only field staff may change, and only while the row is still queued.
_EDITABLE_WHILE_QUEUED = ("priority",)


# The stubs make the admin classes generic; Django's cannot be subscripted.
class _HistoryInline(admin.TabularInline):  # type: ignore[type-arg]
    """A row's history shown on its page: read-only, nothing added or deleted."""

    extra = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(
        self, request: HttpRequest, obj: Message | None = None
    ) -> Any:
        return self.fields

    def has_add_permission(
        self, request: HttpRequest, obj: Message | None = None
    ) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: Message | None = None
    ) -> bool:
        return False


class AttemptInline(_HistoryInline):
    """The attempt log of one row: read-only history."""

    model = Attempt
    fields = (
        "created_at",
        "outcome",
        "provider",
        "error_code",
        "error_text",
        "duration",
    )

    @admin.display(description=_("duration (ms)"))
    def duration(self, obj: Attempt) -> str:
        """Return the provider call's duration, rounded for reading."""
        return "-" if obj.duration_ms is None else f"{obj.duration_ms:.1f}"


class ReceiptInline(_HistoryInline):
    """The delivery receipts that changed one row's delivery status: read-only."""

    model = Receipt
    fields = (
        "created_at",
        "provider",
        "status",
        "raw_status",
        "error_code",
        "reason",
        "reported_at",
    )


@admin.register(Message)
class MessageAdmin(MessageActions, MessageColumns, admin.ModelAdmin):  # type: ignore[type-arg]
    """List, filter and search the outbox; resend, cancel or retry rows."""

    # One line per row that fits a laptop with both sidebars open: the body
    # takes what is left and ellipsises; the provider id, parts and every
    # timestamp are on the row's page and in the "when" tooltip.
    list_display = (
        "recipient",
        "body_preview",
        "status_badge",
        "delivery_badge",
        "attempts_count",
        "when",
    )
    list_filter = (
        QueueFilter,
        "status",
        "blocked_by",
        "delivery_status",
        FinishedFilter,
        ErrorCodeFilter,
        "priority",
        "created_at",
    )
    search_fields = ("recipient", "body", "provider_message_id")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    inlines = (AttemptInline, ReceiptInline)
    actions = ("resend", "cancel", "retry_now", "send_anyway")
    # Counting a large outbox on every page load is the slow part of the list.
    show_full_result_count = False
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "recipient",
                    "opted_out_now",
                    "originator",
                    "body",
                    "segments",
                    "encoding",
                    "parts_and_cost",
                    "replaced",
                )
            },
        ),
        (
            _("Delivery"),
            {
                "fields": (
                    "status",
                    "priority",
                    "send_after",
                    "next_attempt_at",
                    "expires_at",
                    "time_zone",
                    "attempts",
                    "last_error",
                    "blocked_by",
                    "route",
                    "provider",
                    "backend",
                    "provider_message_id",
                    "reference",
                    "sent_at",
                    "finished_at",
                    "claimed_by",
                    "lease_expires_at",
                )
            },
        ),
        (
            _("Delivery report"),
            {
                "fields": (
                    "delivery_status",
                    "delivery_status_raw",
                    "delivery_error_code",
                    "delivery_updated_at",
                    "confirmed_at",
                )
            },
        ),
        (_("Record"), {"fields": ("batch_id", "created_at", "updated_at")}),
    )

    class Media:
        css = {"all": ["sms_outbox/admin.css"]}

    def get_urls(self) -> list[URLPattern]:
        health = path(
            "health/",
            self.admin_site.admin_view(self.health_view),
            name="sms_outbox_message_health",
        )
        return [health, *super().get_urls()]

    def health_view(self, request: HttpRequest) -> HttpResponse:
        """Show the queue-health figures and chart, each linked to the list."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        health = get_queue_health()
        changelist = reverse("admin:sms_outbox_message_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": _("Outbox health"),
            "opts": self.model._meta,
            "health": health,
            "oldest_due": datetime.timedelta(seconds=int(health.oldest_due_seconds)),
            "chart": lay_out_chart(health.buckets),
            "spend": get_spend(),
            "changelist": changelist,
            "statuses": [
                (value, label, health.by_status[value])
                for value, label in Message.Status.choices
            ],
        }
        return TemplateResponse(
            request, "admin/sms_outbox/message/health.html", context
        )

    @admin.display(description=_("opted out now"), boolean=True)
    def opted_out_now(self, obj: Message) -> bool:
        """Say whether the row's recipient is on the suppression list now."""
        return recipient_suppressed(obj)

    def get_readonly_fields(
        self, request: HttpRequest, obj: Message | None = None
    ) -> list[str]:
        # Rows are written by send_sms() and the drain. Staff may only
        # reprioritise a row that is still waiting; sent rows are history.
        # Every entry of the fieldsets above is one field name.
        fields = cast(
            "list[str]",
            [field for fieldset in self.fieldsets for field in fieldset[1]["fields"]],
        )
        if obj is not None and obj.status == Message.Status.QUEUED:
            return [f for f in fields if f not in _EDITABLE_WHILE_QUEUED]
        return fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Rows come from send_sms(), which validates numbers and bodies.
        return False

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # A row that left the queue has nothing to save: hide the buttons.
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and obj.status != Message.Status.QUEUED:
            extra_context = {
                **(extra_context or {}),
                "show_save": False,
                "show_save_and_continue": False,
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(
        self, request: HttpRequest, obj: Message, form: Any, change: bool
    ) -> None:
        # A full save would write back the status read when the form was
        # opened: if a drain sent the row meanwhile, it would be queued again.
        # Update only the editable fields, and only while the row is queued.
        changed = [f for f in _EDITABLE_WHILE_QUEUED if f in form.changed_data]
        if not changed:
            return
        updated = Message.objects.filter(
            pk=obj.pk, status=Message.Status.QUEUED
        ).update(**{f: getattr(obj, f) for f in changed})
        if not updated:
            self.message_user(
                request,
                _("Not saved: the message left the queue while you edited it."),
                messages.WARNING,
            )
