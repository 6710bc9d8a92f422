"""The providers' webhooks: one module per provider over a shared ``base``.

Each provider module holds its signature check, its receipt parser and view,
and its inbound parser and view; ``sms_outbox.receipts`` records a receipt on
its row and ``sms_outbox.inbound`` stores an inbound SMS.
"""
