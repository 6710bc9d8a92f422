"""Reading MessageBird status reports: fields, statuses, times, GET and POST bodies."""

import datetime
import json

import pytest
from django.core.exceptions import BadRequest
from django.http import QueryDict
from django.test import RequestFactory, override_settings

from sms_outbox.models import Message
from sms_outbox.webhooks.base import get_fields
from sms_outbox.webhooks.messagebird import STATUSES, parse_messagebird
from tests.support.receipts import FORM, messagebird_query

MB_ID = "e8077d803532c0b5937c639b60216938"
UTC = datetime.timezone.utc


def parse(query):
    return parse_messagebird(QueryDict(query))


def test_reads_the_report_fields():
    report = parse(
        messagebird_query(
            MB_ID,
            "delivery_failed",
            reference="f" * 32,
            statusErrorCode="104",
            statusReason="unknown subscriber",
        )
    )
    assert report.provider == "messagebird"
    assert report.message_id == MB_ID
    assert report.recipient == "+31612345678"  # MessageBird leaves out the +
    assert report.reference == "f" * 32
    assert (report.status, report.raw_status) == ("undelivered", "delivery_failed")
    assert (report.error_code, report.reason) == ("104", "unknown subscriber")
    assert report.timestamp == datetime.datetime(2026, 5, 3, 8, 58, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw, status",
    [
        ("scheduled", "queued"),
        ("sent", "sent"),
        ("buffered", "sent"),
        ("delivered", "delivered"),
        ("delivery_failed", "undelivered"),
        ("expired", "expired"),
        ("accepted_by_mars", None),
    ],
)
def test_normalises_the_status(raw, status):
    assert parse(messagebird_query(MB_ID, raw)).status == status


def test_every_normalised_status_is_a_model_choice():
    assert set(STATUSES.values()) <= set(Message.DeliveryStatus.values)


@pytest.mark.parametrize(
    "when, expected",
    [
        ("2026-05-03T10:58:10+02:00", datetime.datetime(2026, 5, 3, 8, 58, 10)),
        ("2026-05-03T08:58:10", datetime.datetime(2026, 5, 3, 8, 58, 10)),
        ("2026-05-03T08:58:10.250Z", datetime.datetime(2026, 5, 3, 8, 58, 10, 250000)),
    ],
)
def test_times_are_read_as_utc(when, expected):
    assert parse(messagebird_query(MB_ID, "sent", when=when)).timestamp == (
        expected.replace(tzinfo=UTC)
    )


@override_settings(USE_TZ=False)
def test_times_are_naive_utc_without_time_zone_support():
    report = parse(messagebird_query(MB_ID, "sent", when="2026-05-03T10:58:10+02:00"))
    assert report.timestamp == datetime.datetime(2026, 5, 3, 8, 58, 10)


def test_a_report_without_a_time_has_none():
    assert parse(messagebird_query(MB_ID, "sent", when=None)).timestamp is None


@pytest.mark.parametrize(
    "change, field",
    [
        ({"id": ""}, "'id'"),
        ({"recipient": ""}, "recipient"),
        ({"recipient": "44-no"}, "recipient"),
        ({"status": ""}, "status"),
        ({"when": "yesterday"}, "statusDatetime"),
        ({"when": "2026-13-03T08:58:10Z"}, "statusDatetime"),
        ({"when": "0001-01-01T00:00:00+05:00"}, "statusDatetime"),
        ({"reference": "a\x00b"}, "reference"),
    ],
)
def test_malformed_reports_raise_bad_request(change, field):
    status = change.pop("status", "delivered")
    with pytest.raises(BadRequest, match=field):
        parse(messagebird_query(MB_ID, status, **change))


def test_repeated_field_raises_bad_request():
    query = messagebird_query(MB_ID, "delivered") + "&status=sent"
    with pytest.raises(BadRequest, match="repeated"):
        parse(query)


def test_get_fields_come_from_the_query_string():
    request = RequestFactory().get("/?" + messagebird_query(MB_ID, "sent"))
    assert get_fields(request)["status"] == "sent"


def test_post_fields_come_from_a_form_body_and_the_query_string():
    body = messagebird_query(MB_ID, "delivered")
    request = RequestFactory().post("/?tenant=7", body, content_type=FORM)
    fields = get_fields(request)
    assert (fields["status"], fields["tenant"]) == ("delivered", "7")


def test_post_fields_come_from_a_json_body():
    body = {
        "id": MB_ID,
        "recipient": 31612345678,
        "status": "delivered",
        "statusErrorCode": 0,
        "price": {"amount": 0.07, "currency": "EUR"},
    }
    request = RequestFactory().post("/", json.dumps(body), "application/json")
    report = parse_messagebird(get_fields(request))
    assert (report.recipient, report.status) == ("+31612345678", "delivered")
    assert report.error_code == "0"


@pytest.mark.parametrize("body", [b"[1, 2]", b"{nope", b'"text"'])
def test_json_body_that_is_not_an_object_raises_bad_request(body):
    request = RequestFactory().post("/", body, "application/json")
    with pytest.raises(BadRequest):
        get_fields(request)
