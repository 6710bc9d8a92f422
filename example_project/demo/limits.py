"""The per-user rate limit of the demo page: DEMO_SMS_PER_MINUTE parts a minute.

Parts (segments), not messages: a provider bills each part, so ten messages
of ten parts each cost what a hundred short ones do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import router, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from sms.segments import count_segments

DEFAULT_SMS_PER_MINUTE = 10
WINDOW = timedelta(minutes=1)


class SendLimitExceeded(Exception):
    """Queuing these SMS parts would take the user over DEMO_SMS_PER_MINUTE."""


@contextmanager
def reserve_sms(user, count: int) -> Iterator[None]:
    """Count ``count`` SMS parts against ``user``'s limit, or raise SendLimitExceeded.

    ``count`` is what the SMS are billed as: recipients times the body's
    parts (``parts_to_send()``).

    The body of the ``with`` block (the queuing) runs in the same transaction,
    so a queue that fails gives the reservation back. The user's row is locked
    first, so two posts of one user are counted one after the other (on SQLite,
    where `select_for_update()` does nothing, the example project's BEGIN
    IMMEDIATE serializes them instead).
    """
    from example_project.demo.models import Submission

    limit = getattr(settings, "DEMO_SMS_PER_MINUTE", DEFAULT_SMS_PER_MINUTE)
    alias = router.db_for_write(Submission)
    users = get_user_model()._default_manager.using(alias)
    with transaction.atomic(using=alias):
        list(users.select_for_update().filter(pk=user.pk).values_list("pk"))
        since = timezone.now() - WINDOW
        submissions = Submission.objects.using(alias).filter(user=user)
        # Older rows no longer count: drop them so the table stays small.
        submissions.filter(created_at__lt=since).delete()
        used = submissions.aggregate(total=Sum("sms_count"))["total"] or 0
        if used + count > limit:
            raise SendLimitExceeded(_refusal(limit, used))
        submissions.create(user=user, sms_count=count)
        yield


def parts_to_send(body: str, recipients: int) -> int:
    """Return the SMS parts ``body`` to ``recipients`` numbers is billed as."""
    return count_segments(body) * recipients


def _refusal(limit: int, used: int) -> str:
    message = _(
        "You can queue at most %(limit)d SMS parts a minute and have queued "
        "%(used)d in the last minute, so nothing was queued: "
    ) % {"limit": limit, "used": used}
    if used >= limit:
        return message + _("wait a minute and try again.")
    return message + _(
        "wait a minute, or queue at most %(left)d parts (fewer recipients or "
        "a shorter text)."
    ) % {"left": limit - used}
