"""Template filter of the demo page: phone numbers masked as in the logs."""

from django import template

from sms.phone import mask_phone_number

register = template.Library()


@register.filter
def mask_phone(value: str) -> str:
    """Return ``value`` with its middle digits hidden: ``+4411****0000``."""
    return mask_phone_number(value)
