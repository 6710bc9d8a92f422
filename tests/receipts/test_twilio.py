"""Reading Twilio status callbacks: fields, normalised statuses, malformed input."""

import pytest
from django.core.exceptions import BadRequest
from django.http import QueryDict

from sms_outbox.models import Message
from sms_outbox.webhooks.twilio import STATUSES, parse_twilio
from tests.support.receipts import twilio_fields

SID = "SM" + "b" * 32


def form(fields):
    data = QueryDict(mutable=True)
    for name, value in fields.items():
        data.setlist(name, value if isinstance(value, list) else [value])
    return data


def test_reads_the_callback_fields():
    fields = twilio_fields(SID, "undelivered", ErrorCode="30003")
    fields["ErrorMessage"] = "Unreachable destination handset"
    report = parse_twilio(form(fields))
    assert report.provider == "twilio"
    assert report.message_id == SID
    assert report.recipient == "+441134960000"
    assert (report.status, report.raw_status) == ("undelivered", "undelivered")
    assert report.error_code == "30003"
    assert report.reason == "Unreachable destination handset"
    assert report.timestamp is None  # Twilio sends no time: ranks order it


@pytest.mark.parametrize(
    "raw, status",
    [
        ("accepted", "queued"),
        ("scheduled", "queued"),
        ("queued", "queued"),
        ("sending", "queued"),
        ("sent", "sent"),
        ("delivered", "delivered"),
        ("read", "delivered"),
        ("undelivered", "undelivered"),
        ("partially_delivered", "undelivered"),
        ("failed", "failed"),
        ("canceled", "failed"),
        ("Delivered", "delivered"),
        ("receiving", None),
    ],
)
def test_normalises_the_status(raw, status):
    report = parse_twilio(form(twilio_fields(SID, raw)))
    assert report.status == status
    assert report.raw_status == raw.lower()


def test_every_normalised_status_is_a_model_choice():
    assert set(STATUSES.values()) <= set(Message.DeliveryStatus.values)


def test_older_sms_field_names_are_read():
    report = parse_twilio(form({"SmsSid": SID, "SmsStatus": "sent"}))
    assert (report.message_id, report.status, report.recipient) == (SID, "sent", "")


@pytest.mark.parametrize(
    "change, field",
    [
        ({"MessageSid": "", "SmsSid": ""}, "MessageSid"),
        ({"MessageStatus": "  "}, "MessageStatus"),
        ({"To": "not a number"}, "To"),
        ({"To": "+447700900123"}, "To"),  # no such number
        ({"MessageSid": [SID, "SM2"]}, "MessageSid"),
        ({"ErrorCode": "300\x0003"}, "ErrorCode"),
    ],
)
def test_malformed_callbacks_raise_bad_request(change, field):
    fields = twilio_fields(SID, "delivered")
    fields.update(change)
    with pytest.raises(BadRequest, match=field):
        parse_twilio(form(fields))


def test_long_free_text_is_cut_to_the_column_size():
    fields = twilio_fields(SID, "x" * 40, ErrorCode="9" * 40)
    report = parse_twilio(form(fields))
    assert (len(report.raw_status), len(report.error_code)) == (32, 32)
