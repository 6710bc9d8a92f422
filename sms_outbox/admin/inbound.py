"""Inbound SMS and the suppression list in the Django admin.

Inbound messages and the change log are read-only. Numbers are added and
removed through ``sms_outbox.optout``, so every change is logged with
its reason and source ("admin").
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import Exists, Model, OuterRef, QuerySet
from django.http import HttpRequest
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from sms.exceptions import InvalidPhoneNumber
from sms.phone import mask_phone_number, normalize_phone_number
from sms_outbox.models import (
    InboundMessage,
    Message,
    Suppression,
    SuppressionChange,
)
from sms_outbox.optout import suppress, unsuppress_many

__all__ = [
    "InboundMessageAdmin",
    "SuppressionAdmin",
    "SuppressionChangeAdmin",
    "recipient_suppressed",
    "with_suppressed",
]

_BODY_PREVIEW_CHARS = 40


# The stubs make ModelAdmin and ModelForm generic; Django's own classes
# cannot be subscripted at run time.
class _ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(
        self, request: HttpRequest, obj: Model | None = None
    ) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: Model | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: Model | None = None
    ) -> bool:
        return False


@admin.register(InboundMessage)
class InboundMessageAdmin(_ReadOnlyAdmin):
    """Received SMS, newest first; numbers masked in the list."""

    list_display = (
        "masked_sender",
        "masked_recipient",
        "provider",
        "action",
        "body_preview",
        "received_at",
    )
    list_filter = ("provider", "action", "received_at")
    search_fields = ("sender", "recipient", "body", "provider_message_id")
    date_hierarchy = "received_at"
    show_full_result_count = False

    @admin.display(description=_("from"), ordering="sender")
    def masked_sender(self, obj: InboundMessage) -> str:
        return mask_phone_number(obj.sender)

    @admin.display(description=_("to"), ordering="recipient")
    def masked_recipient(self, obj: InboundMessage) -> str:
        return mask_phone_number(obj.recipient) if obj.recipient else "-"

    @admin.display(description=_("body"))
    def body_preview(self, obj: InboundMessage) -> str:
        return Truncator(obj.body).chars(_BODY_PREVIEW_CHARS)


class SuppressionForm(forms.ModelForm):  # type: ignore[type-arg]
    """Add a number: normalised to E.164, refused if listed already."""

    class Meta:
        model = Suppression
        fields = ("phone_number", "reason")

    def clean_phone_number(self) -> str:
        try:
            number = normalize_phone_number(self.cleaned_data["phone_number"])
        except InvalidPhoneNumber as err:
            raise forms.ValidationError(str(err)) from err
        if Suppression.objects.filter(phone_number=number).exists():
            raise forms.ValidationError(_("This number is on the list already."))
        return number


class ReasonActionForm(ActionForm):
    """The action bar with a reason, required to remove numbers."""

    reason = forms.CharField(label=_("Reason"), required=False, max_length=200)


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The numbers no SMS goes to: add one, or remove some with a reason."""

    form = SuppressionForm
    action_form = ReasonActionForm
    actions = ("remove_numbers",)
    list_display = ("masked_number", "source", "reason", "created_at")
    list_filter = ("source", "created_at")
    search_fields = ("phone_number", "reason")
    date_hierarchy = "created_at"

    def has_change_permission(
        self, request: HttpRequest, obj: Suppression | None = None
    ) -> bool:
        # Edits would bypass the change log: remove and add instead.
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: Suppression | None = None
    ) -> bool:
        # Deleting goes through the "remove" action, which asks for a reason.
        return False

    def get_actions(
        self, request: HttpRequest, action_location: Any = None
    ) -> dict[str, Any]:
        # Django 6.1 passes where the actions show (and warns about overrides
        # that cannot take it); Django 5.2 passes nothing.
        if action_location is None:
            actions = super().get_actions(request)
        else:
            # The stubs do not know the parameter yet.
            actions = super().get_actions(request, action_location=action_location)  # type: ignore[call-arg]
        if not request.user.has_perm("sms_outbox.delete_suppression"):
            actions.pop("remove_numbers", None)
        return actions

    @admin.display(description=_("phone number"), ordering="phone_number")
    def masked_number(self, obj: Suppression) -> str:
        return mask_phone_number(obj.phone_number)

    def save_model(
        self, request: HttpRequest, obj: Suppression, form: Any, change: bool
    ) -> None:
        reason = obj.reason or f"added in the admin by {request.user}"
        suppress(obj.phone_number, reason, Suppression.Source.ADMIN)
        # The admin's log entry and redirect need the stored row.
        stored = Suppression.objects.get(phone_number=obj.phone_number)
        obj.pk, obj.source, obj.created_at = stored.pk, stored.source, stored.created_at

    @admin.action(description=_("Remove from the suppression list (give a reason)"))
    def remove_numbers(
        self, request: HttpRequest, queryset: QuerySet[Suppression]
    ) -> None:
        reason = request.POST.get("reason", "").strip()
        if not reason:
            self.message_user(
                request,
                _("Type a reason next to the action to remove numbers."),
                messages.ERROR,
            )
            return
        reason = f"{reason} (by {request.user} in the admin)"
        removed = unsuppress_many(
            queryset.values_list("phone_number", flat=True),
            reason,
            Suppression.Source.ADMIN,
        )
        self.message_user(
            request,
            ngettext(
                "Removed %(count)d number from the suppression list.",
                "Removed %(count)d numbers from the suppression list.",
                removed,
            )
            % {"count": removed},
            messages.SUCCESS,
        )


@admin.register(SuppressionChange)
class SuppressionChangeAdmin(_ReadOnlyAdmin):
    """Every addition to and removal from the list, with its reason and source."""

    list_display = ("masked_number", "change", "source", "reason", "created_at")
    list_filter = ("change", "source", "created_at")
    search_fields = ("phone_number", "reason")
    date_hierarchy = "created_at"

    @admin.display(description=_("phone number"), ordering="phone_number")
    def masked_number(self, obj: SuppressionChange) -> str:
        return mask_phone_number(obj.phone_number)


def with_suppressed(queryset: QuerySet[Message]) -> QuerySet[Message]:
    """Annotate outbox rows with ``recipient_suppressed``, in the same query."""
    listed = Suppression.objects.filter(phone_number=OuterRef("recipient"))
    return queryset.annotate(recipient_suppressed=Exists(listed))


@admin.display(description=_("opted out now"), boolean=True)
def recipient_suppressed(obj: Message) -> bool:
    """Return whether an outbox row's recipient is on the suppression list now.

    Reads the ``with_suppressed()`` annotation, else asks the database.
    """
    value = getattr(obj, "recipient_suppressed", None)
    if value is None:
        value = Suppression.objects.filter(phone_number=obj.recipient).exists()
    return bool(value)
