"""The example project as deployed: its own settings, DEBUG off, a fresh interpreter.

Each test runs `manage.py` or a script in a clean environment with what the
deploy recipe in docs/deploying.md sets (a SECRET_KEY, ALLOWED_HOSTS, a
DATABASE_URL), so nothing of the test suite's settings can make the page look
safer than it is.
"""

from __future__ import annotations

import json

import pytest

from sms.phone import mask_phone_number
from tests.support.processes import run_example

HOST = "sms.example.com"
NUMBER = "+447911123456"
CODE = "424242"

# Seeds a queued one-time code for argv[2] (once), then makes the requests
# given as JSON in argv[1]: [user or null, method, data, scheme], where scheme
# "proxy" is plain HTTP with the TLS proxy's X-Forwarded-Proto: https. Prints
# what each got back and the recipients then in the outbox.
REQUESTS = """
import json
import sys

import django

django.setup()

from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.test import Client

import sms
from sms_outbox.models import Message

requests, number, code, host = json.loads(sys.argv[1]), *sys.argv[2:]
call_command("migrate", verbosity=0)
if not Message.objects.filter(recipient=number).exists():
    connection = sms.get_connection("sms_outbox.backends.QueuedSmsBackend")
    sms.send_sms(f"Your login code is {code}", None, [number], connection=connection)
staff, _ = User.objects.get_or_create(username="staff", defaults={"is_staff": True})
staff.user_permissions.add(*Permission.objects.filter(
    content_type__app_label="sms_outbox",
    codename__in=["view_message", "add_message"],
))
User.objects.get_or_create(username="member")
results = []
for username, method, data, scheme in requests:
    client = Client(HTTP_HOST=host)
    if username:
        client.force_login(User.objects.get(username=username))
    headers = {"HTTP_X_FORWARDED_PROTO": "https"} if scheme == "proxy" else {}
    response = getattr(client, method)("/", data, **headers)
    results.append({
        "status": response.status_code,
        "location": response.get("Location"),
        "content": response.content.decode(),
    })
print(json.dumps({
    "results": results,
    "outbox": sorted(Message.objects.values_list("recipient", flat=True)),
}))
"""


# Signs a Twilio status callback for an SMS no row has, as Twilio would, and
# posts it unsigned, then signed. Prints both answers' status codes.
WEBHOOK = """
import json

import django

django.setup()

from django.core.management import call_command
from django.test import Client
from twilio.request_validator import RequestValidator

call_command("migrate", verbosity=0)
url = "https://sms.example.com/sms/receipts/twilio/"
fields = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"}
signature = RequestValidator("twilio-token").compute_signature(url, fields)
client = Client(HTTP_HOST="sms.example.com", HTTP_X_FORWARDED_PROTO="https")
unsigned = client.post("/sms/receipts/twilio/", fields)
signed = client.post(
    "/sms/receipts/twilio/", fields, HTTP_X_TWILIO_SIGNATURE=signature
)
print(json.dumps([unsigned.status_code, signed.status_code]))
"""


def _production_env(tmp_path, **env):
    """Return what docs/deploying.md puts in .env, with a throwaway database."""
    return {
        "SECRET_KEY": "k3Y-" + "x7Qz_" * 10,
        "ALLOWED_HOSTS": HOST,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'site.sqlite3'}",
        "USE_X_FORWARDED_PROTO": "1",
        **env,
    }


# Serves a view that fails quoting a number, under the example project's
# settings (DEBUG off), and asks for it through the TLS proxy.
FAILING_VIEW = """
import sys

import django

django.setup()

from django.test import Client, override_settings
from django.urls import path


def fail(request, number):
    raise ValueError(f"cannot reach {number}")


urlpatterns = [path("fail/<str:number>/", fail)]
sys.modules["failing_urls"] = sys.modules[__name__]
with override_settings(ROOT_URLCONF="failing_urls"):
    client = Client(HTTP_HOST=sys.argv[2], raise_request_exception=False)
    response = client.get(f"/fail/{sys.argv[1]}/", HTTP_X_FORWARDED_PROTO="https")
print(response.status_code)
"""


def _requests(tmp_path, *requests, **env):
    """Make ``requests`` (user, method, data[, scheme]) in a fresh interpreter."""
    requests = [(*request, "proxy")[:4] for request in requests]
    result = run_example(
        ["-c", REQUESTS, json.dumps(requests), NUMBER, CODE, HOST],
        tmp_path,
        **_production_env(tmp_path, **env),
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _post(*numbers):
    return {"recipients": "\n".join(numbers), "body": "Hello"}


def test_a_500_is_logged_to_stderr_with_its_traceback_and_numbers_masked(tmp_path):
    result = run_example(
        ["-c", FAILING_VIEW, NUMBER, HOST], tmp_path, **_production_env(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "500"
    masked = mask_phone_number(NUMBER)
    assert f"ERROR django.request: Internal Server Error: /fail/{masked}/" in (
        result.stderr
    )
    assert "Traceback (most recent call last):" in result.stderr
    assert f"ValueError: cannot reach {masked}" in result.stderr
    assert NUMBER not in result.stderr and NUMBER[1:] not in result.stderr


def test_anonymous_visitors_read_nothing_and_queue_nothing(tmp_path):
    got = _requests(
        tmp_path,
        (None, "get", {}),
        (None, "post", _post("+12065550100")),
        ("member", "post", _post("+12065550100")),
    )
    assert len(got["results"]) == 3
    for response in got["results"]:
        assert response["status"] == 302
        assert response["location"].startswith("/admin/login/?next=/")
        assert NUMBER not in response["content"]
        assert mask_phone_number(NUMBER) not in response["content"]
        assert CODE not in response["content"]
    assert got["outbox"] == [NUMBER]


def test_plain_http_is_redirected_to_https(tmp_path):
    got = _requests(
        tmp_path,
        (None, "get", {}, "http"),
        ("staff", "post", _post("+12065550100"), "http"),
    )
    assert [r["status"] for r in got["results"]] == [301, 301]
    assert {r["location"] for r in got["results"]} == {f"https://{HOST}/"}
    assert got["outbox"] == [NUMBER]


def test_without_use_x_forwarded_proto_the_proxy_s_https_is_not_seen(tmp_path):
    # What docs/deploying.md warns about: behind a TLS proxy, every request
    # is redirected to https:// again.
    got = _requests(tmp_path, ("staff", "get", {}), USE_X_FORWARDED_PROTO="0")
    assert got["results"][0]["status"] == 301
    assert got["results"][0]["location"] == f"https://{HOST}/"


def test_the_receipt_webhook_is_public_and_checks_the_signature(tmp_path):
    result = run_example(
        ["-c", WEBHOOK],
        tmp_path,
        **_production_env(tmp_path, TWILIO_AUTH_TOKEN="twilio-token"),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [403, 200]


def test_staff_queue_and_read_masked_numbers(tmp_path):
    got = _requests(
        tmp_path,
        ("staff", "post", _post("+12065550100", "+31201234567")),
        ("staff", "get", {}),
    )
    posted, page = got["results"]
    assert (posted["status"], posted["location"]) == (302, "/")
    assert got["outbox"] == ["+12065550100", "+31201234567", NUMBER]
    content = page["content"]
    for number in got["outbox"]:
        assert number not in content
        assert f'data-recipient="{mask_phone_number(number)}"' in content
    assert f"Your login code is {CODE}" in content


def test_the_eleventh_sms_in_a_minute_is_refused_across_processes(tmp_path):
    numbers = [f"+1206555{n:04d}" for n in range(100, 111)]
    first = _requests(tmp_path, ("staff", "post", _post(*numbers[:10])))
    assert first["results"][0]["status"] == 302
    # A second interpreter (another web worker) sees the first one's sends.
    second = _requests(tmp_path, ("staff", "post", _post(numbers[10])))
    refused = second["results"][0]
    assert refused["status"] == 200
    assert (
        "You can queue at most 10 SMS parts a minute and have queued 10 in the "
        "last minute, so nothing was queued"
    ) in refused["content"]
    assert numbers[10] not in second["outbox"]
    assert len(second["outbox"]) == 11  # the seeded code and the first ten


def test_the_limit_follows_demo_sms_per_minute(tmp_path):
    got = _requests(
        tmp_path,
        ("staff", "post", _post("+12065550100", "+12065550101")),
        ("staff", "post", _post("+12065550102")),
        DEMO_SMS_PER_MINUTE="2",
    )
    assert [r["status"] for r in got["results"]] == [302, 200]
    assert "at most 2 SMS parts a minute" in got["results"][1]["content"]


@pytest.mark.parametrize("debug", [{}, {"DEBUG": "0"}], ids=["unset", "0"])
def test_check_deploy_is_clean(tmp_path, debug):
    result = run_example(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        tmp_path,
        **_production_env(tmp_path, **debug),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."
    assert result.stderr == ""


def test_check_deploy_reports_what_the_environment_turns_down(tmp_path):
    result = run_example(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        tmp_path,
        **_production_env(tmp_path, SECURE_HSTS_SECONDS="0", CSRF_COOKIE_SECURE="0"),
    )
    assert result.returncode != 0
    assert "security.W004" in result.stderr and "security.W016" in result.stderr
