"""The send guards in the admin: prefixes and countries blocked, and their log."""

from __future__ import annotations

import datetime
import time
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from sms_outbox.guards import lift
from sms_outbox.models import GuardBlock, GuardEvent


@admin.register(GuardBlock)
class GuardBlockAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The prefixes and countries the conversion guard blocks now; lift them here."""

    list_display = ("scope", "value", "block_reason", "until")
    search_fields = ("key",)
    actions = ("lift_blocks",)
    fields = ("scope", "value", "block_reason", "until", "hits", "converted")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[GuardBlock]:
        # Only conversion counters block, and only until their cooldown ends.
        return (
            super()
            .get_queryset(request)
            .filter(key__startswith="conversion|", blocked_until__gt=int(time.time()))
            .order_by("-blocked_until")
        )

    @admin.display(description=_("scope"))
    def scope(self, obj: GuardBlock) -> str:
        """Return "prefix" or "country"."""
        return obj.key.split("|")[1]

    @admin.display(description=_("prefix or country"))
    def value(self, obj: GuardBlock) -> str:
        """Return the blocked prefix or ISO country code."""
        return obj.key.split("|", 2)[2]

    @admin.display(description=_("blocked until"), ordering="blocked_until")
    def until(self, obj: GuardBlock) -> datetime.datetime:
        """Return when the cooldown ends."""
        return timezone.localtime(
            datetime.datetime.fromtimestamp(obj.blocked_until, datetime.timezone.utc)
        )

    @admin.action(description=_("Lift the selected blocks"), permissions=["change"])
    def lift_blocks(self, request: HttpRequest, queryset: QuerySet[GuardBlock]) -> None:
        """Lift each block; its conversion window starts again."""
        user = request.user.get_username() if request.user.is_authenticated else ""
        lifted = sum(lift(block, by=user) for block in queryset)
        self.message_user(
            request,
            ngettext("Lifted %(count)d block.", "Lifted %(count)d blocks.", lifted)
            % {"count": lifted},
            messages.SUCCESS,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Blocks come from the conversion guard; fixed ones from SMS_GUARDS.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(GuardEvent)
class GuardEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Every block and lift, with its reason and who lifted it: read-only."""

    list_display = ("created_at", "scope", "value", "action", "reason", "by")
    list_filter = ("action", "scope")
    search_fields = ("value",)
    readonly_fields = ("created_at", "scope", "value", "action", "reason", "by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
