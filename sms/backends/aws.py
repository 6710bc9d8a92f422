"""SMS backend that sends through Amazon SNS ``Publish`` with ``boto3``."""

from __future__ import annotations

from typing import Any, cast

from sms.backends._errors import transport_failure
from sms.backends._outcomes import Accepted, Fault
from sms.backends._provider import ProviderBackend
from sms.exceptions import (
    ProviderAccountError,
    ProviderThrottled,
    ProviderUnavailable,
    RecipientOptedOut,
    RecipientRejected,
    SmsConfigurationError,
    SmsSendError,
)
from sms.masking import install_filter
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

SMS_TYPES = ("Transactional", "Promotional")

# The kind of each botocore transport error (_errors.TRANSPORT_FAILURES), the
# most specific first: a connect timeout is an EndpointConnectionError too.
_TRANSPORT_KINDS = (
    [
        (ConnectTimeoutError, "connect_timeout"),
        (ReadTimeoutError, "timeout"),
        (ConnectionClosedError, "connection_aborted"),
        (EndpointConnectionError, "connection_error"),
    ]
    if boto3
    else []
)
# Keywords passed to boto3's session as given; without them, the AWS chain.
_SESSION_KEYWORDS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")


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

    provider = "aws"
    missing_sdk = None if boto3 else ("boto3", "aws")
    options = {
        "region_name": "AWS_SMS_REGION",
        "sender_id": "AWS_SMS_SENDER_ID",
        "sms_type": "AWS_SMS_TYPE",
        "max_price": "AWS_SMS_MAX_PRICE",
    }
    # Set from ``options`` when the backend is built.
    region_name: str | None
    sender_id: str | None
    sms_type: str | None
    max_price: str | float | None
    sdk_errors = (ClientError,) if boto3 else ()
    # botocore logs each request's parameters (number and body) and the
    # signed request at DEBUG, and the error reply's body.
    sdk_loggers = ("botocore", "boto3")
    # https://docs.aws.amazon.com/sns/latest/api/API_Publish.html#API_Publish_Errors
    # and the errors every AWS query API shares. "OptedOut" (OptedOutException)
    # is SNS's error for a number that opted out of the account's SMS; Publish
    # does not list it (SNS takes such an SMS and drops it), but any answer
    # with it means the number is on SNS's opt-out list.
    error_classes = {
        **dict.fromkeys(
            ["InvalidParameter", "InvalidParameterValue", "ValidationError"],
            RecipientRejected,
        ),
        "OptedOut": RecipientOptedOut,
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
            ],
            ProviderThrottled,
        ),
        **dict.fromkeys(
            [
                "InternalError",
                "InternalFailure",
                "ServiceUnavailable",
            ],
            ProviderUnavailable,
        ),
    }

    def __init__(self, fail_silently: bool = False, **kwargs: Any) -> None:
        keys = {keyword: kwargs.pop(keyword, None) for keyword in _SESSION_KEYWORDS}
        super().__init__(fail_silently=fail_silently, **kwargs)
        if self.sms_type and self.sms_type not in SMS_TYPES:
            raise SmsConfigurationError(
                f"AWS_SMS_TYPE is {self.sms_type!r}: set it to 'Transactional' "
                "or 'Promotional', or leave it unset for the account's default."
            )
        session = _session(region_name=self.region_name, **keys)
        config = Config(
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            retries={"total_max_attempts": 1},
            max_pool_connections=10,
        )
        self.client = session.client("sns", endpoint_url=self.api_url, config=config)
        keys = session.get_credentials().get_frozen_credentials()
        self._secrets += tuple(filter(None, keys))
        install_filter(*self.sdk_loggers)  # botocore made more loggers

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
        metadata = response.get("ResponseMetadata", {})
        retry_after = metadata.get("HTTPHeaders", {}).get("retry-after")
        status = metadata.get("HTTPStatusCode")
        return Fault(status, error.get("Code"), error.get("Message"), None, retry_after)

    def _transport_errors(self) -> tuple[type[Exception], ...]:
        return (BotoCoreError,)

    def _transport_error(self, number: str, err: Exception) -> SmsSendError:
        """Map botocore's errors: a read timeout or a dropped answer may have sent."""
        found = (kind for cls, kind in _TRANSPORT_KINDS if isinstance(err, cls))
        return transport_failure(self.provider, number, next(found, "transport_error"))


def _session(**keywords: Any) -> Any:
    """Return a boto3 session that has credentials and a region, or raise."""
    session = boto3.session.Session(**keywords)
    if session.get_credentials() is None:
        raise SmsConfigurationError(
            "No AWS credentials found: give this process a role, set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in its environment, "
            "or pass aws_access_key_id= and aws_secret_access_key=."
        )
    if not session.region_name:
        raise SmsConfigurationError(
            "AWS_SMS_REGION is not set and the AWS configuration names no "
            "region: set it to the region that sends your SMS, such as "
            "'eu-west-1', or pass region_name=."
        )
    return session
