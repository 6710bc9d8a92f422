"""A test kit: SMS captured in ``sms.outbox``, backend contract tests, fake providers.

Code that sends SMS is tested as code that sends mail: with the pytest plugin
(loaded by pytest-django projects automatically) or ``TEST_RUNNER =
"sms.testing.runner.SmsTestRunner"``, every SMS goes to ``sms.outbox``, which
is empty before each test; ``sms_outbox.testing.send_queued_to_locmem()`` drains the
database outbox into it. See "Testing your code" in the documentation.

A backend written outside this project proves itself with a few lines::

    from django.test import SimpleTestCase
    from sms.testing import BaseSmsBackendTests, FakeProvider, Reply

    class FakePlivo(FakeProvider):
        def respond(self, request):
            self.messages.append(request.json)
            return Reply(202, {"message_uuid": ["..."]})

    class PlivoBackendTests(BaseSmsBackendTests, SimpleTestCase):
        sms_backend = "myapp.backends.PlivoSmsBackend"
        ...

``BaseSmsBackendTests`` is the mixin Django's own ``BaseEmailBackendTests`` is
for mail backends; ``FakeProvider`` is a real HTTP/1.1 server on 127.0.0.1
that records requests and answers what ``respond()`` or ``script()`` say.
Nothing here needs a provider SDK until a fake signs a report with one.
"""

from sms.testing.contract import (
    ORIGINATOR,
    OTHER_RECIPIENT,
    RECIPIENT,
    BaseSmsBackendTests,
)
from sms.testing.environment import (
    empty_outbox,
    setup_test_environment,
    teardown_test_environment,
)
from sms.testing.fake_messagebird import FakeMessageBird
from sms.testing.fake_sns import FakeSns
from sms.testing.fake_twilio import FakeTwilio
from sms.testing.fake_vonage import FakeVonage
from sms.testing.server import (
    FakeProvider,
    RecordedRequest,
    Reply,
    StatusReport,
    closed_port_url,
)

__all__ = [
    "ORIGINATOR",
    "OTHER_RECIPIENT",
    "RECIPIENT",
    "BaseSmsBackendTests",
    "FakeMessageBird",
    "FakeProvider",
    "FakeSns",
    "FakeTwilio",
    "FakeVonage",
    "RecordedRequest",
    "Reply",
    "StatusReport",
    "closed_port_url",
    "empty_outbox",
    "setup_test_environment",
    "teardown_test_environment",
]
