"""The demo page's inbound list in headless Chromium: a STOP reply shows, masked."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from sms.phone import mask_phone_number

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.usefixtures("staff_logged_in")
def test_a_stop_reply_is_listed_masked_after_a_reload(page, live_server, settings):
    settings.TWILIO_AUTH_TOKEN = "browser-test-twilio-token"
    page.goto(live_server.url + "/")
    assert "No SMS received yet." in page.locator("#inbound").inner_text()
    call_command("simulate_inbound_sms", "STOP", "--from", "+441134960000")
    page.reload()
    rows = page.locator("#inbound tbody tr[data-sender]")
    assert rows.count() == 1
    assert rows.first.get_attribute("data-sender") == mask_phone_number("+441134960000")
    assert rows.first.get_attribute("data-action") == "opt_out"
    assert "+441134960000" not in page.locator("#inbound").inner_text()
