"""The ``sms_preview`` filter: how many parts a form field's text will be sent as."""

from __future__ import annotations

from django import template
from django.forms import BoundField

from sms.encoding import Preview, preview, smart_encoding_enabled

register = template.Library()


@register.filter
def sms_preview(value: object) -> Preview:
    """Return the ``Preview`` of a form field's text (or of any text).

    Printed, it reads "2 parts, 180/306 characters (GSM-7)"; its attributes
    (``parts``, ``encoding``, ``characters``...) are there for a template
    that wants its own wording. Smart encoding applies as ``SMS_SMART_ENCODING``
    says, as it would when the text is queued::

        {% load sms %}
        {{ form.body }} {{ form.body|sms_preview }}
    """
    if isinstance(value, BoundField):
        value = value.value()
    text = "" if value is None else str(value)
    return preview(text, smart=smart_encoding_enabled())
