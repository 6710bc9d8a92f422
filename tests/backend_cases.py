"""The backend contract tests now live in ``sms.testing``; kept for old imports."""

from sms.testing import (  # noqa: F401
    ORIGINATOR,
    OTHER_RECIPIENT,
    RECIPIENT,
    BaseSmsBackendTests,
)
