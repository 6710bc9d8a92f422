"""The outbox in the Django admin: inspect rows and their attempts, cancel, resend.

The actions (``sms_outbox.admin_actions``) only change rows in the database;
delivery stays with ``send_queued_sms``, so no admin request waits on a
provider.
"""

from __future__ import annotations

import datetime
from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext_lazy as _

from sms_outbox.admin_actions import MessageActions
from sms_outbox.chart import lay_out_chart
from sms_outbox.columns import MessageColumns
from sms_outbox.filters import ErrorCodeFilter, FinishedFilter, QueueFilter
from sms_outbox.health import get_queue_health
from sms_outbox.models import Attempt, Message

#: The only field staff may change, and only while the row is still queued.
_EDITABLE_WHILE_QUEUED = ("priority",)


# The stubs make the admin classes generic; Django's cannot be subscripted.
class AttemptInline(admin.TabularInline):  # type: ignore[type-arg]
    """The attempt log of one row: read-only history."""

    model = Attempt
    fields = ("created_at", "outcome", "error_code", "error_text", "duration")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(
        self, request: HttpRequest, obj: Message | None = None
    ) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: Message | None = None
    ) -> bool:
        return False

    @admin.display(description=_("duration (ms)"))
    def duration(self, obj: Attempt) -> str:
        """Return the provider call's duration, rounded for reading."""
        return "-" if obj.duration_ms is None else f"{obj.duration_ms:.1f}"


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
        "delivery_status",
        FinishedFilter,
        ErrorCodeFilter,
        "priority",
        "created_at",
    )
    search_fields = ("recipient", "body", "provider_message_id")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    inlines = (AttemptInline,)
    actions = ("resend", "cancel", "retry_now")
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
                    "attempts",
                    "last_error",
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
        from sms_outbox.admin_inbound import recipient_suppressed

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


from sms_outbox.admin_inbound import *  # noqa: E402, F403 - inbound SMS, opt-outs
