"""Parsing the console/file text format back into a Message."""

import io

import pytest

from sms.message import Message
from sms.utils import format_message, message_from_binary_file, message_from_bytes

SEPARATOR = b"-" * 79


def test_message_from_bytes():
    message = message_from_bytes(b"from: Shop\nto: +441134960000\nHello\n")
    assert isinstance(message, Message)
    assert (message.originator, message.recipients, message.body) == (
        "Shop",
        ["+441134960000"],
        "Hello\n",
    )


def test_body_ends_at_separator():
    data = b"from: Shop\nto: 1\nline one\nline two\n" + SEPARATOR + b"\n"
    assert message_from_bytes(data).body == "line one\nline two"


def test_first_record_only():
    data = format_message(Message("first", "Shop", ["1", "2"])).encode()
    message = message_from_bytes(data)
    assert (message.recipients, message.body) == (["1"], "first")


def test_round_trip_through_console_format():
    original = Message("multi\nline body", "+12065550100", ["+441134960000"])
    message = message_from_bytes(format_message(original).encode())
    assert (message.originator, message.recipients, message.body) == (
        original.originator,
        original.recipients,
        original.body,
    )


def test_first_header_lines_win():
    data = b"from: A\nto: 1\nfrom: B\nto: 2\n" + SEPARATOR + b"\n"
    message = message_from_bytes(data)
    assert (message.originator, message.recipients) == ("A", ["1"])
    assert message.body == "from: B\nto: 2"


def test_decoded_as_ascii_with_surrogateescape():
    data = "from: Shop\nto: 1\nGrüße\n".encode() + SEPARATOR
    body = message_from_bytes(data).body
    assert body == "Gr\udcc3\udcbc\udcc3\udc9fe"
    assert body.encode("ascii", "surrogateescape").decode() == "Grüße"


def test_empty_originator_and_body():
    message = message_from_bytes(b"from: \nto: 1\n\n" + SEPARATOR)
    assert (message.originator, message.body) == ("", "")


@pytest.mark.parametrize(
    ("data", "missing"),
    [
        (b"to: 1\nbody\n", "from"),
        (b"from: Shop\nbody\n", "to"),
        (b"", "from"),
        (b"xfrom: Shop\nto: 1\n", "from"),
    ],
)
def test_missing_header_raises_value_error(data, missing):
    with pytest.raises(ValueError, match=f"No '{missing}: ' header line"):
        message_from_bytes(data)


def test_message_from_binary_file():
    fp = io.BytesIO(b"from: Shop\nto: +441134960000\nHi\n" + SEPARATOR + b"\n")
    message = message_from_binary_file(fp)
    assert (message.originator, message.recipients, message.body) == (
        "Shop",
        ["+441134960000"],
        "Hi",
    )
