"""The outbox admin's actions: resend, cancel or retry the selected rows.

Each action only changes rows in the database through the queryset's
maintenance methods; delivery stays with ``send_queued_sms``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, ngettext_lazy

from sms_outbox.models import MessageQuerySet

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
