"""The drain: claim due rows, send them through the real backend, record results.

- ``claims``: how a row is claimed under a lease, renewed, given back, and
  taken back when its worker's lease ran out;
- ``sending``: one provider call, and when an SMS counts as sent;
- ``policy``: what happens to a row after each provider outcome, and whether
  the provider took the SMS;
- ``failover``: a row's route, tried alias by alias when a provider did not
  take it; ``breaker``: the circuit of each alias, shared in the database;
- ``results``: the fenced bulk writes that record outcomes;
- ``rate``: the account's send rate, shared by every drain of the site, and
  the provider's "too many requests" obeyed;
- ``run``: one drain (``send_queued()``): its calls in flight and its claims;
- ``worker``: the long-running loop that outlives outages.
"""

from sms_outbox.drain.run import DrainResult, send_queued
from sms_outbox.drain.worker import drain_until_stopped

__all__ = ["DrainResult", "drain_until_stopped", "send_queued"]
