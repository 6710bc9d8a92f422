"""The outbox in the Django admin: queued SMS, inbound SMS and the suppression list.

Importing the package registers every model admin of the outbox.
"""

from sms_outbox.admin.inbound import (
    InboundMessageAdmin,
    SuppressionAdmin,
    SuppressionChangeAdmin,
)
from sms_outbox.admin.messages import AttemptInline, MessageAdmin

__all__ = [
    "AttemptInline",
    "InboundMessageAdmin",
    "MessageAdmin",
    "SuppressionAdmin",
    "SuppressionChangeAdmin",
]
