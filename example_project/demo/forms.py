"""The demo form: recipients (one per line or comma-separated) and a body."""

from __future__ import annotations

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from sms.conf import get_setting
from sms.exceptions import InvalidPhoneNumber
from sms.phone import normalize_phone_number
from sms.segments import count_segments

_SPLIT = re.compile(r"[,;\n\r]+")


class SendForm(forms.Form):
    """Validate every recipient before anything is queued."""

    recipients = forms.CharField(
        label=_("Recipients"),
        help_text=_("One number per line or comma-separated, e.g. +441134960000."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    body = forms.CharField(
        label=_("Message"),
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def clean_recipients(self) -> list[str]:
        """Return the numbers in E.164 form, without duplicates, in order.

        Every invalid number is reported at once, each by name.
        """
        numbers: list[str] = []
        errors: list[str] = []
        for raw in _SPLIT.split(self.cleaned_data["recipients"]):
            raw = raw.strip()
            if not raw:
                continue
            try:
                number = normalize_phone_number(raw)
            except InvalidPhoneNumber as err:
                errors.append(str(err))
                continue
            if number not in numbers:
                numbers.append(number)
        if errors:
            raise forms.ValidationError(errors)
        if not numbers:
            raise forms.ValidationError(_("Enter at least one phone number."))
        return numbers

    def clean_body(self) -> str:
        """Refuse a body longer than SMS_MAX_SEGMENTS parts, when that is set."""
        # Browsers submit line breaks as CRLF; an SMS (and the live count) uses LF.
        body = self.cleaned_data["body"].replace("\r\n", "\n")
        if not body.strip():
            raise forms.ValidationError(_("The message is empty."))
        limit = get_setting("SMS_MAX_SEGMENTS")
        if limit and count_segments(body) > limit:
            raise forms.ValidationError(
                _("The message needs %(parts)d parts; the limit is %(limit)d.")
                % {"parts": count_segments(body), "limit": limit}
            )
        return body
