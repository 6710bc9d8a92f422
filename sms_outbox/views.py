"""Webhook endpoints: Twilio, MessageBird and Vonage delivery reports."""

from __future__ import annotations

import logging

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from sms_outbox.webhooks.messagebird import get_report_fields, parse_messagebird
from sms_outbox.webhooks.record import ReceiptOutcome, record_report
from sms_outbox.webhooks.twilio import parse_twilio
from sms_outbox.webhooks.verify import (
    verify_messagebird,
    verify_twilio,
    verify_vonage,
)
from sms_outbox.webhooks.vonage import parse_vonage

logger = logging.getLogger(__name__)


def _bad_request(provider: str, err: BadRequest) -> HttpResponse:
    logger.warning("Refused a malformed %s delivery report: %s", provider, err)
    return HttpResponseBadRequest(str(err), content_type="text/plain")


def _ok(outcome: ReceiptOutcome) -> HttpResponse:
    # A 2xx also for unknown messages and statuses: providers retry anything else.
    return HttpResponse(outcome.value, content_type="text/plain")


# CSRF cannot apply: the provider holds no token. The signature replaces it,
# and require_http_methods limits the exemption to the method each one uses.
@csrf_exempt
@require_http_methods(["POST"])
def twilio_status_callback(request: HttpRequest) -> HttpResponse:
    """Verify and record a Twilio status callback (``StatusCallback``)."""
    verify_twilio(request)
    try:
        report = parse_twilio(request.POST, request.GET)
    except BadRequest as err:
        return _bad_request("Twilio", err)
    return _ok(record_report(report))


@csrf_exempt
@require_http_methods(["GET", "POST"])
def messagebird_status_report(request: HttpRequest) -> HttpResponse:
    """Verify and record a MessageBird status report (``reportUrl``)."""
    verify_messagebird(request)
    try:
        report = parse_messagebird(get_report_fields(request))
    except BadRequest as err:
        return _bad_request("MessageBird", err)
    return _ok(record_report(report))


@csrf_exempt
@require_http_methods(["GET", "POST"])
def vonage_delivery_receipt(request: HttpRequest) -> HttpResponse:
    """Verify and record a Vonage SMS delivery receipt (``callback``)."""
    try:
        fields = get_report_fields(request)
    except BadRequest as err:
        return _bad_request("Vonage", err)
    verify_vonage(fields)
    try:
        report = parse_vonage(fields)
    except BadRequest as err:
        return _bad_request("Vonage", err)
    return _ok(record_report(report))
