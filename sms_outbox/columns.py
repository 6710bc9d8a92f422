"""How the outbox admin shows a row: a body preview, badges, compact times."""

from __future__ import annotations

import datetime

from django.contrib import admin
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from sms_outbox.models import Message

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
