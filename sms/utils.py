"""The console and file backends' text format: write a ``Message``, read it back."""

from __future__ import annotations

import re
from typing import BinaryIO

from sms.message import Message

SEPARATOR = "-" * 79


def format_message(message: Message) -> str:
    """Return the text record of ``message``: one block per recipient."""
    return "".join(
        f"from: {message.originator}\nto: {recipient}\n{message.body}\n{SEPARATOR}\n"
        for recipient in message.recipients
    )


_FROM = re.compile(r"^from: (.*)$", re.MULTILINE)
_TO = re.compile(r"^to: (.*)$", re.MULTILINE)


def message_from_bytes(data: bytes) -> Message:
    """Return the first record in ``data`` (console or file output) as a Message.

    Raise ``ValueError`` if the ``from:`` or ``to:`` header is missing.
    """
    text = data.decode("ascii", errors="surrogateescape")
    originator, recipient = _FROM.search(text), _TO.search(text)
    if originator is None or recipient is None:
        missing = "from" if originator is None else "to"
        raise ValueError(f"No '{missing}: ' header line found in the SMS record.")
    body_lines = []
    for line in text[recipient.end() + 1 :].split("\n"):
        if line == SEPARATOR:
            break
        body_lines.append(line)
    body = "\n".join(body_lines)
    return Message(body, originator.group(1), [recipient.group(1)])


def message_from_binary_file(fp: BinaryIO) -> Message:
    """Return the first record in the binary file ``fp`` as a Message."""
    return message_from_bytes(fp.read())
