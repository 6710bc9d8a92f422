"""The exception tree every part of django-sms raises from."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from sms import exceptions
from sms.exceptions import (
    InvalidMessage,
    InvalidPhoneNumber,
    MessageTooLong,
    OutcomeUnknown,
    ProviderAccountError,
    ProviderUnavailable,
    RecipientRejected,
    SmsBackendImportError,
    SmsConfigurationError,
    SmsError,
    SmsImproperlyInstalled,
    SmsSendError,
)


@pytest.mark.parametrize(
    ("cls", "bases"),
    [
        (InvalidPhoneNumber, (SmsError, ValueError)),
        (InvalidMessage, (SmsError, ValueError)),
        (MessageTooLong, (InvalidMessage, SmsError, ValueError)),
        (SmsSendError, (SmsError,)),
        (RecipientRejected, (SmsSendError, SmsError)),
        (ProviderUnavailable, (SmsSendError, SmsError)),
        (OutcomeUnknown, (ProviderUnavailable, SmsSendError, SmsError)),
        (ProviderAccountError, (SmsSendError, SmsError)),
        (SmsConfigurationError, (ImproperlyConfigured,)),
        (SmsImproperlyInstalled, (SmsConfigurationError, ImportError)),
        (SmsBackendImportError, (SmsConfigurationError, ImportError)),
    ],
)
def test_tree(cls, bases):
    for base in bases:
        assert issubclass(cls, base)


@pytest.mark.parametrize(
    "cls", [SmsConfigurationError, SmsImproperlyInstalled, SmsBackendImportError]
)
def test_configuration_errors_are_outside_sms_error(cls):
    # fail_silently swallows SmsError: a broken setup must never be hidden.
    assert not issubclass(cls, SmsError)


def test_all_lists_every_exception():
    classes = {
        name
        for name, value in vars(exceptions).items()
        if isinstance(value, type)
        and issubclass(value, Exception)
        and value.__module__ == "sms.exceptions"
    }
    assert set(exceptions.__all__) == classes


@pytest.mark.parametrize(
    ("cls", "retryable"),
    [
        (SmsSendError, False),
        (RecipientRejected, False),
        (ProviderUnavailable, True),
        (OutcomeUnknown, True),
        (ProviderAccountError, False),
    ],
)
def test_send_errors_from_a_message_alone(cls, retryable):
    error = cls("it failed")
    assert str(error) == "it failed"
    assert (error.provider, error.code, error.recipient) == (None, None, None)
    assert error.retryable is retryable


def test_send_error_attributes():
    error = RecipientRejected(
        "unknown number",
        provider="twilio",
        code=21211,
        recipient="+4411****0000",
        retryable=True,
    )
    assert (error.provider, error.code, error.recipient, error.retryable) == (
        "twilio",
        21211,
        "+4411****0000",
        True,
    )
    assert ProviderUnavailable("x", retryable=False).retryable is False
    # An instance override leaves the class default alone.
    assert ProviderUnavailable.retryable is True


def test_send_error_attributes_are_keyword_only():
    with pytest.raises(TypeError):
        SmsSendError("x", "twilio")


def test_improperly_installed_names_package_and_extra():
    error = SmsImproperlyInstalled("twilio", "twilio")
    assert str(error) == (
        "The 'twilio' package is required by this SMS backend but is not "
        'installed. Install it with: pip install "django-sms[twilio]"'
    )
    assert (error.package, error.extra) == ("twilio", "twilio")
