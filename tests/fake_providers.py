"""The fake provider servers now live in ``sms.testing``; kept for old imports."""

from sms.testing import (  # noqa: F401
    FakeMessageBird,
    FakeProvider,
    FakeTwilio,
    RecordedRequest,
    Reply,
    StatusReport,
    closed_port_url,
)
