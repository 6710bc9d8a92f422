"""Post a signed inbound SMS to this site's webhook, as a provider would."""

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.test import Client
from django.urls import reverse

from sms.exceptions import InvalidPhoneNumber
from sms.phone import normalize_phone_number
from sms_outbox.conf import get_setting
from sms_outbox.webhooks.simulate import PROVIDERS, SignedRequest, sign_inbound


class Command(BaseCommand):
    help = (
        "Send BODY from --from to --to through the inbound-SMS webhook, signed "
        "like the provider signs it: in-process, or over HTTP to --url."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("body")
        parser.add_argument("--from", dest="sender", required=True)
        parser.add_argument("--to", dest="recipient", default="+12065550100")
        parser.add_argument("--provider", choices=PROVIDERS, default="twilio")
        parser.add_argument("--url", help="the webhook's full URL on a running site")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            sender = normalize_phone_number(options["sender"])
            recipient = normalize_phone_number(options["recipient"])
        except InvalidPhoneNumber as err:
            raise CommandError(str(err)) from err
        provider, url = options["provider"], options["url"]
        if url is None:
            url = _local_base() + reverse(f"sms_outbox:{provider}_inbound")
        try:
            request = sign_inbound(provider, url, sender, recipient, options["body"])
        except ImproperlyConfigured as err:
            raise CommandError(str(err)) from err
        status = _send(request, in_process=options["url"] is None)
        self.stdout.write(f"{provider} inbound webhook {url.split('?')[0]}: {status}")
        if status != 200:
            raise CommandError(f"The webhook answered {status}, not 200.")


def _local_base() -> str:
    """Return the scheme and host this site's webhooks verify signatures for."""
    base = get_setting("SMS_WEBHOOK_BASE_URL")
    if base:
        parts = urlsplit(base)
        return f"{parts.scheme}://{parts.netloc}"
    hosts = [h for h in settings.ALLOWED_HOSTS if h not in ("*",)]
    return f"http://{hosts[0].lstrip('.') if hosts else 'localhost'}"


def _send(request: SignedRequest, in_process: bool) -> int:
    """Send ``request``; return the HTTP status of the answer."""
    parts = urlsplit(request.url)
    if in_process:
        client = Client(HTTP_HOST=parts.netloc)
        headers = {k: v for k, v in request.headers.items() if k != "Content-Type"}
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        response = client.generic(
            request.method,
            path,
            request.body,
            request.headers.get("Content-Type", "application/octet-stream"),
            secure=parts.scheme == "https",
            headers=headers,
        )
        return response.status_code
    import urllib.error
    import urllib.request

    http_request = urllib.request.Request(
        request.url,
        data=request.body or None,
        headers=request.headers,
        method=request.method,
    )
    try:
        with urllib.request.urlopen(http_request, timeout=10) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as err:
        return err.code
    except urllib.error.URLError as err:
        raise CommandError(f"Could not reach {parts.netloc}: {err.reason}") from err
