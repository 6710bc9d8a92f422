"""Signals sent by the SMS outbox."""

from django.dispatch import Signal

#: Sent after ``QueuedSmsBackend`` stored messages, once the caller's
#: transaction commits (at once in autocommit; never for rows that roll back).
#: Sent robustly: a receiver that raises is logged with its traceback (logger
#: ``django.dispatch``) and neither stops the other receivers nor reaches the
#: caller of ``send_sms()``. Arguments: ``sender`` (the outbox ``Message``
#: model), ``messages`` (the ``sms.Message`` objects queued) and ``rows`` (the
#: outbox rows created, one per recipient).
message_queued = Signal()

#: Sent after a delivery receipt changed a row's ``delivery_status``, once the
#: transaction that recorded it commits; never for a replayed or stale report.
#: Arguments: ``sender`` (the outbox ``Message`` model), ``message`` (the row,
#: already updated), ``old_status`` (``""`` before the first receipt),
#: ``new_status`` (a ``Message.DeliveryStatus`` value) and ``provider``
#: (``"twilio"`` or ``"messagebird"``).
delivery_status_changed = Signal()

#: Sent after an inbound SMS was stored, once its transaction commits; never
#: for a provider's replay of one already stored. Arguments: ``sender`` (the
#: ``InboundMessage`` model) and ``message`` (the stored row; its ``action``
#: says whether it opted the sender out or in, or asked for help, which the
#: outbox already handled).
sms_received = Signal()
