"""``QueuedSmsBackend``: store SMS in the outbox table for ``send_queued_sms``."""

from __future__ import annotations

import datetime
import logging
import uuid
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import router, transaction
from django.utils import timezone

from sms.backends.base import BaseSmsBackend
from sms.encoding import describe, smart_encode, smart_encoding_enabled
from sms.exceptions import RecipientRejected, SmsError
from sms.message import RecipientResult
from sms.phone import mask_phone_number, normalize_phone_number, validate_originator
from sms_outbox.conf import get_delivery_backend_path
from sms_outbox.expiry import check_ttl, expires_at_for
from sms_outbox.routing import route_for
from sms_outbox.schedule import check_time_zone, release_time
from sms_outbox.schema import missing_tables_explained

if TYPE_CHECKING:
    from sms.message import Message
    from sms_outbox.models import Message as OutboxMessage

logger = logging.getLogger(__name__)

__all__ = ["QueuedSmsBackend", "get_delivery_backend_path"]


class QueuedSmsBackend(BaseSmsBackend):
    """Store each message as one outbox row per recipient, in one INSERT.

    Nothing goes over the network: ``send_queued_sms`` delivers later through
    ``SMS_OUTBOX_BACKEND``, or, with ``SMS_OUTBOX_TASK`` enabled, a
    ``drain_outbox`` task enqueued when the caller's transaction commits. The
    INSERT joins the caller's transaction, so an SMS queued in a request that
    rolls back is never sent. ``priority``
    (higher first) and ``send_after`` (an aware datetime) apply to every
    message sent through this connection::

        connection = sms.get_connection(priority=10, send_after=tomorrow)
        sms.send_sms("Hi", None, ["+441134960000"], connection=connection)

    So do ``ttl`` (seconds or a timedelta) or ``expires_at``, after which the
    SMS is not sent (``sms_outbox.expiry``); ``time_zone``, the IANA zone
    quiet hours are judged in instead of the number's (``sms_outbox.schedule``);
    and ``smart_encoding``, which overrides ``SMS_SMART_ENCODING`` unless the
    message sets its own ``smart_encoding``.
    """

    delivers = False

    def __init__(
        self,
        fail_silently: bool = False,
        priority: int = 0,
        send_after: datetime.datetime | None = None,
        ttl: datetime.timedelta | float | None = None,
        expires_at: datetime.datetime | None = None,
        time_zone: str = "",
        smart_encoding: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        self.priority = _check_priority(priority)
        self.send_after = _check_send_after(send_after)
        self.ttl = None if ttl is None else check_ttl(ttl)
        self.expires_at = _check_send_after(expires_at, "expires_at")
        self.time_zone = check_time_zone(time_zone)
        if smart_encoding is not None and not isinstance(smart_encoding, bool):
            raise ValueError(
                f"smart_encoding must be True, False or None, not {smart_encoding!r}."
            )
        self.smart_encoding = smart_encoding

    def send_messages(self, messages: list[Message]) -> int:
        """Queue ``messages``; return how many had at least one recipient queued.

        One INSERT for every recipient of the call, which also checks the
        suppression list: in the common case, one statement and no other
        round trip (``_store()``). With send guards set (``SMS_GUARDS``), one
        upsert of their counters before it, in the same transaction; a row
        they refuse raises ``SendRefused`` or, under ``fail_silently``, is
        skipped, and is stored as ``blocked`` once the transaction commits.
        """
        if not messages:
            return 0
        get_delivery_backend_path()
        from sms_outbox import guards
        from sms_outbox.models import Message as OutboxMessage
        from sms_outbox.models import due_now
        from sms_outbox.tasks import get_task_options, wake_on_commit

        # A bad SMS_OUTBOX_TASK raises here, before anything is stored.
        task_enabled = get_task_options()["enabled"]

        now = due_now()
        due = max(self.send_after, now) if self.send_after else now
        rows, queued = [], []
        for message in messages:
            if message_rows := self._rows_for(message, due):
                rows.extend(message_rows)
                queued.append(message)
        if rows:
            # A forgotten migrate raises SmsConfigurationError, which
            # fail_silently cannot hide, instead of a raw "no such table". The
            # send guards (SMS_GUARDS) count and check the rows in the
            # INSERT's transaction, then store what they admit.
            with missing_tables_explained(router.db_for_write(OutboxMessage)):
                rows, queued = guards.admit(rows, queued, self.fail_silently, _store)
        if rows:
            _announce_on_commit(OutboxMessage, queued, rows)
            if task_enabled:
                first = min(row.next_attempt_at for row in rows)
                wake_on_commit(router.db_for_write(OutboxMessage), first)
        return len(queued)

    def _rows_for(
        self, message: Message, due: datetime.datetime
    ) -> list[OutboxMessage]:
        """Return unsaved rows for ``message``, one per recipient queued.

        All share one ``batch_id``. Under ``fail_silently`` a message that
        fails its checks is logged and gets no rows.
        """
        from sms_outbox.models import Message as OutboxMessage

        try:
            originator, checked = self._check(message)
        except SmsError as err:
            if not self.fail_silently:
                raise
            # The error names what is wrong (a character and its index, the
            # originator); the body and the numbers stay out of the log.
            logger.warning(
                "Not queueing an SMS to %s: %s",
                ", ".join(mask_phone_number(r) for r in message.recipients),
                err,
            )
            return []
        batch_id = uuid.uuid4()
        kind = getattr(message, "kind", "")
        body, replaced = self._encoded(message)
        expires_at = expires_at_for(kind, timezone.now(), self.ttl, self.expires_at)
        rows = []
        for recipient in checked:
            if recipient is None:
                continue
            reference = uuid.uuid4().hex
            release = release_time(recipient, kind, due, reference, self.time_zone)
            rows.append(
                OutboxMessage(
                    batch_id=batch_id,
                    body=body,
                    originator=originator,
                    recipient=recipient,
                    kind=kind,
                    priority=self.priority,
                    send_after=self.send_after,
                    next_attempt_at=release,
                    expires_at=expires_at,
                    time_zone=self.time_zone,
                    replaced=replaced,
                    reference=reference,
                    route=route_for(recipient, kind),
                )
            )
        return rows

    def _encoded(self, message: Message) -> tuple[str, str]:
        """Return the body to store and what smart encoding replaced in it."""
        override = getattr(message, "smart_encoding", None)
        if override is None:
            override = self.smart_encoding
        if not smart_encoding_enabled(override):
            return message.body, ""
        body, replaced = smart_encode(message.body)
        return body, describe(replaced)

    def _check(self, message: Message) -> tuple[str, list[str | None]]:
        """Validate ``message``; return its originator and normalised recipients.

        A recipient is None when it is skipped: an invalid one under
        ``fail_silently`` (logged, masked) or a repeat of an earlier one. Record
        one result per recipient on ``message.results``.
        """
        message.check_body()
        originator = validate_originator(message.originator)
        recipients: list[str | None] = []
        seen: set[str] = set()
        results = []
        for value in message.recipients:
            try:
                number = normalize_phone_number(value)
            except SmsError as err:
                if not self.fail_silently:
                    # The error quotes the value; logs and tracebacks must not.
                    masked = str(err).replace(repr(value), repr(_masked(value)))
                    raise type(err)(masked) from None
                logger.warning(
                    "Not queueing an SMS to %s: %s",
                    mask_phone_number(value),
                    "invalid phone number",
                )
                error = RecipientRejected(
                    "invalid phone number", recipient=mask_phone_number(value)
                )
                error.__cause__ = err
                results.append(RecipientResult(value, status="invalid", error=error))
                recipients.append(None)
                continue
            results.append(RecipientResult(number, status="queued"))
            # One row per number: the same number twice in one message is one SMS.
            recipients.append(None if number in seen else number)
            seen.add(number)
        message.results = results
        return originator, recipients


def _store(
    rows: list[OutboxMessage], messages: list[Message], fail_silently: bool
) -> tuple[list[OutboxMessage], list[Message]]:
    """INSERT ``rows`` unless a recipient opted out; return what was stored.

    The INSERT itself checks the suppression list (``optout.unless_opted_out``)
    and stores nothing if any recipient is on it: one statement in the common
    case. Only then is the list asked which numbers they are, to raise
    ``RecipientOptedOut`` or, under ``fail_silently``, to store the others
    (``optout.drop_opted_out()``), again under the same condition: a number
    that opts out meanwhile is never texted.
    """
    from sms_outbox import optout, sql

    while rows:
        unless = optout.unless_opted_out([row.recipient for row in rows])
        if sql.insert_rows(rows, unless):
            break
        rows, messages = optout.drop_opted_out(rows, messages, fail_silently)
    return rows, messages


def _masked(value: object) -> str:
    return mask_phone_number(value) if isinstance(value, str) else "<not a string>"


def _announce_on_commit(
    model: type[OutboxMessage], messages: list[Message], rows: list[OutboxMessage]
) -> None:
    """Send ``message_queued`` once the caller's transaction commits.

    Receivers hear only of rows that exist for good: a rollback discards the
    callback (in autocommit it runs at once). ``send_robust`` logs a raising
    receiver with its traceback (logger ``django.dispatch``) instead of
    letting it make ``send_sms()`` raise after the rows were stored, which
    would make a caller that retries queue the SMS twice.
    """
    from sms_outbox.signals import message_queued

    def announce() -> None:
        message_queued.send_robust(sender=model, messages=messages, rows=rows)

    transaction.on_commit(announce, using=router.db_for_write(model), robust=True)


def _check_priority(priority: object) -> int:
    """Return ``priority`` if it fits the ``priority`` column, else raise."""
    low, high = -32768, 32767
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise ValueError(
            f"priority must be a whole number from {low} to {high}, not "
            f"{priority!r}: pass an int such as 10 (higher is sent first)."
        )
    if not low <= priority <= high:
        raise ValueError(
            f"priority {priority} is out of range: pass a whole number from "
            f"{low} to {high} (higher is sent first)."
        )
    return priority


def _check_send_after(
    send_after: object, name: str = "send_after"
) -> datetime.datetime | None:
    """Return ``send_after`` if it is None or a datetime the column can store."""
    if send_after is None:
        return None
    if not isinstance(send_after, datetime.datetime):
        raise ValueError(
            f"{name} must be a datetime, not {type(send_after).__name__}: "
            "pass e.g. timezone.now() + datetime.timedelta(hours=2)."
        )
    if settings.USE_TZ and timezone.is_naive(send_after):
        raise ValueError(
            f"{name} {send_after.isoformat()} is naive but USE_TZ is on: "
            "pass an aware datetime, e.g. timezone.now() + timedelta(hours=2)."
        )
    if not settings.USE_TZ and timezone.is_aware(send_after):
        raise ValueError(
            f"{name} {send_after.isoformat()} is aware but USE_TZ is off: "
            "pass a naive datetime in local time, e.g. timezone.now() + "
            "timedelta(hours=2)."
        )
    return send_after
