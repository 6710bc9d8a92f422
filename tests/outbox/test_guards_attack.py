"""An SMS pumping attack against the send guards, with legitimate traffic mixed in.

200 caller keys (IP addresses) request 5,000 one-time codes for sequential
numbers in two premium ranges (+3706800xxxx in Lithuania, +99890100xxxx in
Uzbekistan), interleaved with 500 legitimate requests to GB numbers whose
codes are used. Each request runs as a view under ``ATOMIC_REQUESTS`` would:
in a transaction, inside ``guards.caller(ip=...)``, showing "try later" on
``SendRefused``. Then the outbox is drained into the locmem backend, the
provider here. docs/guards.md reports these figures.
"""

import random
from decimal import Decimal

import pytest
from django.db import transaction
from django.test import override_settings

import sms
import sms_outbox
from sms.exceptions import SendRefused
from sms.phone import country_of
from sms.pricing import estimate_cost
from sms_outbox import guards
from sms_outbox.models import GuardBlock, Message
from sms_outbox.testing import send_queued_to_locmem

pytestmark = pytest.mark.django_db(transaction=True)

BUDGET = Decimal("40.00")
PRICES = {"GB": "0.04", "LT": "0.50", "UZ": "0.30", "*": "0.10"}
SMS_GUARDS = {
    "countries": {"GB": "allow", "LT": "allow", "UZ": "allow", "*": "block"},
    "home": ["GB"],
    "limits": {"recipient": "3/h", "caller": "30/h", "international": "1000/d"},
    "daily_cap": str(BUDGET),
    "conversion": {"sends": 20, "below": 0.2, "cooldown": 86400},
}
ATTACK_PREFIXES = ("+3706800", "+99890100")
CODE = "Your code is 123456"


def _requests():
    """Return the 5,500 requests, (ip, number, legitimate), in a mixed order."""
    rng = random.Random(28)
    attack = [
        (f"198.51.100.{n % 200}", f"{ATTACK_PREFIXES[n % 2]}{n // 2:04d}", False)
        for n in range(5000)
    ]
    legit = []
    while len(legit) < 500:  # GB mobiles (+447... also holds GG, JE and IM)
        number = f"+4474{rng.randrange(10**8):08d}"
        if country_of(number) == "GB":
            legit.append((f"203.0.113.{len(legit) % 250}", number, True))
    requests = attack + legit
    rng.shuffle(requests)
    return requests


def _request_code(number, ip):
    """What a login view does: send a code; return False if it was refused."""
    queued = sms.get_connection("sms_outbox.backends.QueuedSmsBackend")
    # The view answers "try later" and its transaction commits, storing the
    # refused SMS as blocked.
    with transaction.atomic(), guards.caller(ip=ip):
        try:
            sms.Message(CODE, "Acme", [number], kind="otp", connection=queued).send()
        except SendRefused:
            return False
    return True


@override_settings(SMS_PRICES=PRICES, SMS_GUARDS=SMS_GUARDS)
def test_an_sms_pumping_attack_is_stopped_within_budget():
    accepted = {True: 0, False: 0}
    for ip, number, legitimate in _requests():
        if _request_code(number, ip):
            accepted[legitimate] += 1
            if legitimate:  # the user types the code in
                assert sms_outbox.confirm(number)
    sms.outbox = []
    send_queued_to_locmem()
    delivered = [m.recipients[0] for m in sms.outbox]
    cost = sum(estimate_cost(CODE, number) for number in delivered)
    attack = [n for n in delivered if n.startswith(ATTACK_PREFIXES)]

    # At most the configured budget reached the provider.
    assert cost <= BUDGET
    # Legitimate traffic kept flowing: every legitimate code was sent.
    assert accepted[True] == 500
    assert len(delivered) - len(attack) == 500
    # The attack's prefixes (and their countries) ended up blocked.
    blocked = {b.key for b in GuardBlock.objects.filter(blocked_until__gt=0)}
    for prefix in ATTACK_PREFIXES:
        assert f"conversion|prefix|{prefix}" in blocked
    assert {"conversion|country|LT", "conversion|country|UZ"} <= blocked
    assert "conversion|country|GB" not in blocked
    assert len(attack) <= 2 * SMS_GUARDS["conversion"]["sends"]
    refused = Message.objects.filter(status=Message.Status.BLOCKED)
    assert refused.count() == 5000 - len(attack)
    print(
        f"\nattack SMS sent {len(attack)} of 5000, legitimate {accepted[True]} of "
        f"500, cost {cost} of {BUDGET}, rules "
        f"{sorted(set(refused.values_list('blocked_by', flat=True)))}"
    )
