"""The outbox in the Django admin: queued SMS, inbound SMS, opt-outs, send blocks.

Importing the package registers every model admin of the outbox.
"""

from sms_outbox.admin.guards import GuardBlockAdmin, GuardEventAdmin
from sms_outbox.admin.inbound import (
    InboundMessageAdmin,
    SuppressionAdmin,
    SuppressionChangeAdmin,
)
from sms_outbox.admin.messages import AttemptInline, MessageAdmin

__all__ = [
    "AttemptInline",
    "GuardBlockAdmin",
    "GuardEventAdmin",
    "InboundMessageAdmin",
    "MessageAdmin",
    "SuppressionAdmin",
    "SuppressionChangeAdmin",
]
