"""What the provider backends' tests share: set-up, errors, transport, logs."""

import base64
import io
import logging
import os
from unittest import mock
from urllib.parse import quote, quote_plus

from django.test import SimpleTestCase, override_settings

import sms
from sms.exceptions import OutcomeUnknown, ProviderUnavailable, SmsSendError
from sms.testing import (
    ORIGINATOR,
    OTHER_RECIPIENT,
    RECIPIENT,
    Reply,
    closed_port_url,
)

NO_PROXY = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
#: A one-time code: what must never reach a log line.
SECRET_BODY = "Your OTP is 493817 for Kestrel"


# Provider tests touch no database: no suppression-list lookups.
@override_settings(SMS_OUTBOX_ENFORCE_OPT_OUT=False)
class ProviderTestCase(SimpleTestCase):
    """Serve ``fake_class`` for the class; its credentials in settings per test.

    A provider's test module sets ``backend_path``, ``provider``,
    ``fake_class`` and ``credential_settings()``.
    """

    backend_path = ""
    provider = ""
    fake_class = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.enterClassContext(mock.patch.dict(os.environ, NO_PROXY))
        if cls.fake_class is not None:
            cls.fake = cls.enterClassContext(cls.fake_class())

    def setUp(self):
        self.fake.reset()
        override = override_settings(**self.credential_settings())
        override.enable()
        self.addCleanup(override.disable)
        super().setUp()

    def credential_settings(self):
        """Return the settings that hold the fake's credentials."""
        return {}

    def backend(self, **kwargs):
        kwargs.setdefault("api_url", self.fake.url)
        return sms.get_connection(self.backend_path, **kwargs)

    def send(self, recipients, body="Hello", originator=ORIGINATOR, **kwargs):
        message = sms.Message(body, originator, recipients, self.backend(**kwargs))
        return message, message.send

    def assertSendError(self, cls, code, recipients=(RECIPIENT,), **kwargs):
        """Send, expect ``cls`` with ``code``; return the message and the error."""
        message, send = self.send(list(recipients), **kwargs)
        with self.assertRaises(cls) as caught:
            send()
        error = caught.exception
        self.assertIs(type(error), cls)
        self.assertEqual((error.provider, error.code), (self.provider, code))
        self.assertEqual(error.recipient, "+4411****0000")
        self.assertIs(message.results[0].error, error)
        self.assertIsNone(message.results[0].message_id)
        return message, error


class ContractMixin:
    """``BaseSmsBackendTests`` hooks for a backend pointed at the fake."""

    def get_connection(self, **kwargs):
        kwargs.setdefault("api_url", self.fake.url)
        return sms.get_connection(**kwargs)

    def flush_outbox(self):
        self.fake.reset()


class TransportTestsMixin:
    """A refused connection, a late answer and a dropped one, for every provider.

    ``late_reply`` is an accepting answer the fake sends too late;
    ``refused_cause``, ``timeout_cause`` and ``dropped_cause`` are what the
    SDK raised, chained to our error.
    """

    late_reply = None
    refused_cause = Exception
    timeout_cause = Exception
    dropped_cause = Exception

    def test_connection_refused(self):
        _, error = self.assertSendError(
            ProviderUnavailable, "connection_error", api_url=closed_port_url()
        )
        self.assertTrue(error.retryable)
        self.assertIsInstance(error.__cause__, self.refused_cause)

    def test_server_slower_than_timeout(self):
        self.fake.script(self.late_reply)
        message, error = self.assertSendError(OutcomeUnknown, "timeout", timeout=0.2)
        self.assertTrue(error.retryable)
        self.assertIsInstance(error.__cause__, self.timeout_cause)
        self.assertEqual(message.results[0].status, "unknown")
        self.assertEqual(len(self.fake.requests), 1)

    def test_connection_dropped_after_sending(self):
        self.fake.script(Reply(drop=True))
        _, error = self.assertSendError(OutcomeUnknown, "connection_aborted")
        self.assertIsInstance(error.__cause__, self.dropped_cause)
        self.assertEqual(len(self.fake.requests), 1)  # not sent again


class LogLeakTestsMixin:
    """Nothing secret in any log line with every logger at DEBUG.

    Two messages go out and one error reply quotes the number and the body
    back, as providers do. A provider's test sets ``secrets()`` (its
    credentials) and ``script_error_reply(number, body)``, which scripts
    that reply; ``error_backend()`` is the backend that gets it (the same
    one unless overridden).
    """

    def secrets(self):
        return []

    def script_error_reply(self, number, body):
        raise NotImplementedError

    def error_backend(self):
        return self.backend()

    def capture_every_logger(self):
        """Return a stream that receives every record, every logger at DEBUG."""
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setLevel(logging.DEBUG)
        root = logging.getLogger()
        root.addHandler(handler)
        self.addCleanup(root.removeHandler, handler)
        loggers = [root] + [
            logger
            for logger in logging.Logger.manager.loggerDict.values()
            if isinstance(logger, logging.Logger)
        ]
        for logger in loggers:
            state = (logger.level, logger.propagate, logger.disabled)
            self.addCleanup(self._restore, logger, state)
            logger.setLevel(logging.DEBUG)
            logger.propagate = True
            logger.disabled = False
        logging.disable(logging.NOTSET)
        return stream

    @staticmethod
    def _restore(logger, state):
        level, logger.propagate, logger.disabled = state
        logger.setLevel(level)

    def forbidden(self):
        """Return every form a credential, number or body could be logged in."""
        found = list(self.secrets())
        for number in (RECIPIENT, OTHER_RECIPIENT):
            found += [number, number[1:], quote(number, safe="")]
        found += [
            SECRET_BODY,
            quote_plus(SECRET_BODY),
            quote(SECRET_BODY, safe=""),
            "493817",
        ]
        return found

    def test_nothing_secret_in_any_log_at_debug(self):
        stream = self.capture_every_logger()
        backend = self.backend()
        for number in (RECIPIENT, OTHER_RECIPIENT):
            self.assertEqual(
                sms.Message(SECRET_BODY, ORIGINATOR, [number], backend).send(), 1
            )
        self.script_error_reply(RECIPIENT, SECRET_BODY)
        failing = sms.Message(
            SECRET_BODY, ORIGINATOR, [RECIPIENT], self.error_backend()
        )
        try:
            failing.send()
        except SmsSendError as err:
            logging.getLogger("tests").exception("The send failed: %s", err)
            last_error = str(err)
        else:
            self.fail("the error reply did not fail the send")
        output = stream.getvalue()
        self.assertIn("Traceback", output)
        self.assertIn("4411****0000", output)  # the records are there, masked
        for text in self.forbidden():
            with self.subTest(text=text):
                self.assertNotIn(text, output)
                self.assertNotIn(text, last_error)


def basic_auth(user, password):
    """Return the ``Authorization: Basic`` token of ``user`` and ``password``."""
    return base64.b64encode(f"{user}:{password}".encode()).decode()
