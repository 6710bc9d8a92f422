"""SMS backend that sends through Amazon SNS ``Publish`` with ``boto3``."""

from __future__ import annotations

from typing import Any, cast

from sms.backends._errors import MaskNumbers, transport_failure
from sms.backends._outcomes import Accepted, Fault
from sms.backends._provider import ProviderBackend
from sms.conf import get_setting
from sms.exceptions import (
    ProviderAccountError,
    ProviderUnavailable,
    RecipientRejected,
    SmsConfigurationError,
    SmsImproperlyInstalled,
    SmsSendError,
)
from sms.message import Message

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )
except ImportError:  # the optional extra django-sms[aws]
    boto3 = ClientError = BotoCoreError = None  # type: ignore[assignment,misc]

PROVIDER = "aws"

# https://docs.aws.amazon.com/sns/latest/api/API_Publish.html#API_Publish_Errors
# and the errors every AWS query API shares.
ERROR_CLASSES = {
    **dict.fromkeys(
        ["InvalidParameter", "InvalidParameterValue", "ValidationError"],
        RecipientRejected,
    ),
    **dict.fromkeys(
        [
            "AuthorizationError",
            "AccessDenied",
            "AccessDeniedException",
            "ExpiredToken",
            "IncompleteSignature",
            "InvalidClientTokenId",
            "InvalidSecurity",
            "MissingAuthenticationToken",
            "OptInRequired",
            "SignatureDoesNotMatch",
            "UnrecognizedClientException",
        ],
        ProviderAccountError,
    ),
    **dict.fromkeys(
        [
            "Throttling",
            "ThrottlingException",
            "ThrottledException",
            "RequestLimitExceeded",
            "InternalError",
            "InternalFailure",
            "ServiceUnavailable",
        ],
        ProviderUnavailable,
    ),
}

SMS_TYPES = ("Transactional", "Promotional")


class SmsBackend(ProviderBackend):
    """Publish each recipient its own SMS through Amazon SNS.

    Credentials come from the standard AWS chain (environment, shared files,
    instance or task role), or the ``aws_access_key_id``,
    ``aws_secret_access_key`` and ``aws_session_token`` keywords; the region
    from ``region_name``, else ``AWS_SMS_REGION``, else the chain's. An E.164
    originator becomes the origination number, any other the sender id;
    ``sender_id`` (``AWS_SMS_SENDER_ID``) replaces it. ``sms_type``
    (``AWS_SMS_TYPE``) and ``max_price`` (``AWS_SMS_MAX_PRICE``, in USD) go
    with every message. ``api_url`` is the endpoint URL; ``timeout``
    (``SMS_TIMEOUT``) bounds connecting and reading, and botocore pools the
    connections and never retries on its own (the outbox does, and records it).
    """

    provider = PROVIDER
    sdk_errors = (ClientError,) if boto3 else ()
    error_classes = ERROR_CLASSES

    def __init__(
        self,
        fail_silently: bool = False,
        *,
        region_name: str | None = None,
        sender_id: str | None = None,
        sms_type: str | None = None,
        max_price: str | float | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        **kwargs: Any,
    ) -> None:
        if boto3 is None:
            raise SmsImproperlyInstalled("boto3", "aws")
        super().__init__(fail_silently=fail_silently, **kwargs)
        self.sender_id = _setting(sender_id, "AWS_SMS_SENDER_ID")
        self.sms_type = _setting(sms_type, "AWS_SMS_TYPE")
        self.max_price = _setting(max_price, "AWS_SMS_MAX_PRICE")
        if self.sms_type and self.sms_type not in SMS_TYPES:
            raise SmsConfigurationError(
                f"AWS_SMS_TYPE is {self.sms_type!r}: set it to 'Transactional' "
                "or 'Promotional', or leave it unset for the account's default."
            )
        session = boto3.session.Session(
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
            aws_session_token=aws_session_token,
            region_name=_setting(region_name, "AWS_SMS_REGION"),
        )
        if session.get_credentials() is None:
            raise SmsConfigurationError(
                "No AWS credentials found: give this process a role, set "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in its environment, "
                "or pass aws_access_key_id= and aws_secret_access_key=."
            )
        config = Config(
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            retries={"total_max_attempts": 1},
            max_pool_connections=10,
        )
        if not session.region_name:
            raise SmsConfigurationError(
                "AWS_SMS_REGION is not set and the AWS configuration names no "
                "region: set it to the region that sends your SMS, such as "
                "'eu-west-1', or pass region_name=."
            )
        self.client = session.client("sns", endpoint_url=self.api_url, config=config)

    def open(self) -> bool:
        """Return False: botocore opens and pools its connections itself."""
        return False

    def close(self) -> None:
        """Close botocore's pooled connections; the next call opens new ones."""
        self.client.close()

    def _check_originator(self, originator: str) -> str:
        if self.sender_id or not originator:
            return originator  # SNS picks a number of the account's
        return super()._check_originator(originator)

    def _send_request(
        self, message: Message, originator: str, numbers: list[str]
    ) -> Any:
        [number] = numbers
        attributes: dict[str, str] = {}
        if self.sender_id or any(c.isalpha() for c in originator):
            attributes["AWS.SNS.SMS.SenderID"] = self.sender_id or originator
        elif originator:
            attributes["AWS.MM.SMS.OriginationNumber"] = originator
        if self.sms_type:
            attributes["AWS.SNS.SMS.SMSType"] = self.sms_type
        if self.max_price:
            attributes["AWS.SNS.SMS.MaxPrice"] = str(self.max_price)
        return self.client.publish(
            PhoneNumber=number,
            Message=message.body,
            MessageAttributes={
                name: {
                    "DataType": "Number" if name.endswith("MaxPrice") else "String",
                    "StringValue": value,
                }
                for name, value in attributes.items()
            },
        )

    def _parse_response(self, answer: Any, numbers: list[str]) -> list[Accepted]:
        return [Accepted(answer.get("MessageId"))]

    def _describe(self, err: Exception) -> Fault:
        response = cast("ClientError", err).response  # one of sdk_errors
        error = response.get("Error", {})
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return Fault(status, error.get("Code"), error.get("Message"))

    def _transport_errors(self) -> tuple[type[Exception], ...]:
        return (BotoCoreError,)

    def _transport_error(self, number: str, err: Exception) -> SmsSendError:
        """Map botocore's errors: a read timeout or a dropped answer may have sent."""
        if isinstance(err, ConnectTimeoutError):
            kind = "connect_timeout"
        elif isinstance(err, ReadTimeoutError):
            kind = "timeout"
        elif isinstance(err, ConnectionClosedError):
            kind = "connection_aborted"
        elif isinstance(err, EndpointConnectionError):
            kind = "connection_error"
        else:
            kind = "transport_error"
        return transport_failure(PROVIDER, number, kind)


def _setting(value: Any, name: str) -> Any:
    return get_setting(name) if value is None else value


# botocore logs each request's parameters (the number) at DEBUG.
MaskNumbers.install("botocore.endpoint", "botocore.parsers", "botocore.hooks")
