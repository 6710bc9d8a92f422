"""The demo page: queue an SMS through send_sms(), list the newest rows and replies.

Staff only, with DEBUG on or off, and only with the outbox's permissions:
``sms_outbox.view_message`` to see the page (it lists the bodies, one-time
codes among them) and ``sms_outbox.add_message`` as well to queue SMS.
Deployed, the page could otherwise send SMS on the owner's account to any
number and show everyone's codes.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import ngettext

from example_project.demo.forms import SendForm
from example_project.demo.limits import (
    SendLimitExceeded,
    parts_to_send,
    reserve_sms,
)
from sms import get_connection, send_sms
from sms.exceptions import SmsError
from sms.segments import count_segments, get_encoding
from sms_outbox.models import InboundMessage
from sms_outbox.models import Message as OutboxMessage

#: The page always queues, whatever SMS_BACKEND says: the request must never
#: wait on (or talk to) a provider. send_queued_sms delivers later.
QUEUED_BACKEND = "sms_outbox.backends.QueuedSmsBackend"
NEWEST_ROWS = 20
NEWEST_INBOUND = 10


@staff_member_required
def index(request: HttpRequest) -> HttpResponse:
    """Show the form, the newest outbox rows and inbound SMS; queue on a POST."""
    if not request.user.has_perm("sms_outbox.view_message"):
        raise PermissionDenied("Viewing the outbox needs sms_outbox.view_message.")
    if request.method == "POST" and not request.user.has_perm("sms_outbox.add_message"):
        raise PermissionDenied("Queuing SMS needs sms_outbox.add_message.")
    form = SendForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        recipients = form.cleaned_data["recipients"]
        try:
            parts = parts_to_send(form.cleaned_data["body"], len(recipients))
            with reserve_sms(request.user, parts):
                send_sms(
                    form.cleaned_data["body"],
                    None,
                    recipients,
                    connection=get_connection(QUEUED_BACKEND),
                )
        except (SendLimitExceeded, SmsError) as err:
            # SmsError: for example no usable DEFAULT_FROM_SMS; the backend
            # refuses the whole message before storing anything.
            form.add_error(None, str(err))
        else:
            messages.success(
                request,
                ngettext("Queued %d message.", "Queued %d messages.", len(recipients))
                % len(recipients),
            )
            return redirect("demo:index")
    body = form["body"].value() or ""
    context = {
        "form": form,
        "rows": OutboxMessage.objects.order_by("-created_at", "-pk")[:NEWEST_ROWS],
        "inbound": InboundMessage.objects.order_by("-received_at", "-pk")[
            :NEWEST_INBOUND
        ],
        "show_bodies": request.user.has_perm("sms_outbox.view_message"),
        "segments": count_segments(body),
        "encoding": get_encoding(body),
    }
    return render(request, "demo/index.html", context)
