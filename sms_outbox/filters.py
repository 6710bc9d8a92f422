"""List filters of the outbox admin that the health figures link to."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from sms_outbox.health import ERROR_OUTCOMES, WINDOW
from sms_outbox.models import Attempt, Message, MessageQuerySet

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
