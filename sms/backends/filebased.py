"""SMS backend that appends messages to a file, one file per backend instance."""

from __future__ import annotations

import datetime
import os
from typing import IO, Any, cast

from sms.backends.console import SmsBackend as ConsoleSmsBackend
from sms.conf import get_setting
from sms.exceptions import SmsConfigurationError
from sms.message import Message
from sms.utils import format_message


class SmsBackend(ConsoleSmsBackend):
    """Append messages to ``<file_path>/<creation time>-<id>.log``.

    The directory comes from the ``file_path`` keyword, else ``SMS_FILE_PATH``;
    it is created when missing and must be writable.
    """

    #: The log file, opened for each send and None in between; binary, unlike
    #: the console backend's text stream.
    stream: IO[bytes] | None

    def __init__(
        self,
        *args: Any,
        file_path: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.file_path = _usable_directory(file_path)
        timestamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        self._fname = os.path.join(self.file_path, f"{timestamp}-{abs(id(self))}.log")
        kwargs["stream"] = None
        super().__init__(*args, **kwargs)
        # The console backend defaults to stdout; this one opens its file lazily.
        self.stream = None

    def write_message(self, message: Message) -> None:
        """Append one message's record to the file, UTF-8 encoded."""
        # send_messages() opened the file before calling this.
        stream = cast("IO[bytes]", self.stream)
        stream.write(format_message(message).encode())

    def open(self) -> bool:
        """Open the file for appending; return True if this call opened it."""
        if self.stream is None:
            self.stream = open(self._fname, "ab")
            return True
        return False

    def close(self) -> None:
        """Close the file; the next send reopens it and appends."""
        try:
            if self.stream is not None:
                self.stream.close()
        finally:
            self.stream = None


def _usable_directory(file_path: str | os.PathLike[str] | None) -> str:
    """Return ``file_path`` (or ``SMS_FILE_PATH``) made absolute, created if missing.

    Raise ``SmsConfigurationError`` saying what to fix when it is unset, not
    a directory or not writable.
    """
    if file_path is None:
        file_path = get_setting("SMS_FILE_PATH")
    if file_path is not None:
        # os.fsdecode raises the TypeError 0.7.0 callers expect for a
        # non-path value ("expected str, bytes or os.PathLike object, not
        # object"), before any check of ours.
        file_path = os.fsdecode(file_path)
    if not file_path:
        raise SmsConfigurationError(
            "The file SMS backend needs a directory: set SMS_FILE_PATH or pass "
            "file_path to get_connection()."
        )
    path = os.path.abspath(file_path)
    try:
        os.makedirs(path, exist_ok=True)
    except FileExistsError as err:
        raise SmsConfigurationError(
            f"SMS_FILE_PATH {path!r} exists but is not a directory: "
            "point it at a directory."
        ) from err
    except OSError as err:
        raise SmsConfigurationError(
            f"Could not create the SMS_FILE_PATH directory {path!r} "
            f"({err.strerror}): create it or choose another path."
        ) from err
    if not os.access(path, os.W_OK):
        raise SmsConfigurationError(
            f"The SMS_FILE_PATH directory {path!r} is not writable: "
            "fix its permissions or choose another path."
        )
    return path
