"""Quiet hours (sms_outbox.schedule): held until the window ends where the recipient is.

Fixed clock times, in UTC, with the local times they stand for; the daylight
saving changes of 2026: the US on 8 March and 1 November, the UK on 29 March
and 25 October, New South Wales on 5 April and 4 October.
"""

import datetime
import zoneinfo

import pytest
from django.core.checks import Error, Warning
from django.utils import timezone

import sms
import sms.phone
from sms.exceptions import ProviderUnavailable, SmsConfigurationError
from sms_outbox import schedule
from sms_outbox.drain import send_queued
from sms_outbox.drain.claims import ClaimedRow
from sms_outbox.drain.policy import decide
from sms_outbox.models import Message
from sms_outbox.schedule import check_quiet_hours, release_time, time_zones
from tests.support.outbox_backends import ScriptedBackend

UTC = datetime.timezone.utc
NIGHT = ("21:00", "08:00")
LONDON = "+441134960000"
SYDNEY = "+61255501234"
AU_MOBILE = "+61412345678"  # every Australian zone, Cocos (UTC+6:30) to Lord Howe
NEW_YORK = "+12125550100"
IDAHO = "+12085550100"  # America/Boise and America/Los_Angeles
ALASKA = "+19075550100"  # America/Adak and America/Anchorage

pytestmark = pytest.mark.usefixtures("no_spread")


@pytest.fixture
def no_spread(settings):
    settings.SMS_OUTBOX_QUIET_HOURS = NIGHT
    settings.SMS_OUTBOX_QUIET_HOURS_SPREAD = 0


def at(*args):
    return datetime.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("number", "due", "release"),
    [
        # London, summer: 22:30 BST is held until 08:00 BST.
        (LONDON, at(2026, 7, 1, 21, 30), at(2026, 7, 2, 7, 0)),
        # 12:00 UTC is 13:00 BST: not held.
        (LONDON, at(2026, 7, 1, 12, 0), at(2026, 7, 1, 12, 0)),
        # 07:59 BST: one minute to wait.
        (LONDON, at(2026, 7, 1, 6, 59), at(2026, 7, 1, 7, 0)),
        # Clocks go forward at 01:00 UTC on 29 March: 22:30 GMT is held until
        # 08:00 BST, 07:00 UTC.
        (LONDON, at(2026, 3, 28, 22, 30), at(2026, 3, 29, 7, 0)),
        # Clocks go back at 01:00 UTC on 25 October: 22:30 BST is held until
        # 08:00 GMT, 08:00 UTC.
        (LONDON, at(2026, 10, 24, 21, 30), at(2026, 10, 25, 8, 0)),
        # Sydney, summer time ends on 5 April: 23:00 AEDT is held until
        # 08:00 AEST, 22:00 UTC.
        (SYDNEY, at(2026, 4, 4, 12, 0), at(2026, 4, 4, 22, 0)),
        # Summer time starts on 4 October: 22:00 AEST is held until 08:00
        # AEDT, 21:00 UTC.
        (SYDNEY, at(2026, 10, 3, 12, 0), at(2026, 10, 3, 21, 0)),
        # An Australian mobile may be anywhere from Cocos (UTC+6:30) to Lord
        # Howe (UTC+11): 15:00 UTC is 21:30 on Cocos, so it waits for 08:00
        # there (01:30 UTC), though Sydney woke at 21:00 UTC.
        (AU_MOBILE, at(2026, 1, 15, 15, 0), at(2026, 1, 16, 1, 30)),
        (SYDNEY, at(2026, 1, 15, 15, 0), at(2026, 1, 15, 21, 0)),
        # 22:00 UTC: 09:00 in Sydney but 04:30 on Cocos.
        (AU_MOBILE, at(2026, 1, 15, 22, 0), at(2026, 1, 16, 1, 30)),
        # 03:00 UTC: 14:00 in Sydney, 09:30 on Cocos: everyone is awake.
        (AU_MOBILE, at(2026, 1, 16, 3, 0), at(2026, 1, 16, 3, 0)),
        # New York, one zone: 23:00 EDT until 08:00 EDT.
        (NEW_YORK, at(2026, 6, 11, 3, 0), at(2026, 6, 11, 12, 0)),
        # Idaho numbers span Mountain and Pacific time. 08:30 in Boise is
        # 07:30 in Los Angeles: held until 08:00 PDT.
        (IDAHO, at(2026, 6, 10, 14, 30), at(2026, 6, 10, 15, 0)),
        # 21:30 in Boise, 20:30 in Los Angeles: until 08:00 in both.
        (IDAHO, at(2026, 6, 11, 3, 30), at(2026, 6, 11, 15, 0)),
        # US clocks go forward on 8 March: held from the standard-time evening
        # until 08:00 PDT (15:00 UTC, not 16:00).
        (IDAHO, at(2026, 3, 8, 5, 0), at(2026, 3, 8, 15, 0)),
        # And back on 1 November: until 08:00 PST, 16:00 UTC.
        (IDAHO, at(2026, 11, 1, 6, 0), at(2026, 11, 1, 16, 0)),
        # Alaska: Anchorage (AKDT) and Adak (HDT), an hour apart.
        (ALASKA, at(2026, 7, 1, 16, 30), at(2026, 7, 1, 17, 0)),
    ],
)
def test_release_at_fixed_clock_times(number, due, release):
    assert release_time(number, "", due) == release


def test_the_zones_come_from_the_number():
    names = [zone.key for zone in time_zones(IDAHO)]
    assert names == ["America/Boise", "America/Los_Angeles"]
    assert len(time_zones(AU_MOBILE)) == 8


def test_a_message_can_name_its_zone():
    due = at(2026, 7, 1, 12, 0)  # 13:00 in London, 21:00 in Tokyo
    assert release_time(LONDON, "", due) == due
    assert release_time(LONDON, "", due, time_zone="Asia/Tokyo") == at(
        2026, 7, 1, 23, 0
    )


def test_urgent_kinds_bypass_the_window(settings):
    due = at(2026, 7, 1, 23, 0)
    assert release_time(LONDON, "otp", due) == due
    assert release_time(LONDON, "marketing", due) == at(2026, 7, 2, 7, 0)
    settings.SMS_OUTBOX_URGENT_KINDS = ("alert",)
    assert release_time(LONDON, "otp", due) == at(2026, 7, 2, 7, 0)
    assert release_time(LONDON, "alert", due) == due


def test_windows_per_kind_prefix_country_and_default(settings):
    settings.SMS_OUTBOX_QUIET_HOURS = {
        "*": ("21:00", "08:00"),
        "GB": ("22:00", "07:00"),
        "+4411": ("20:00", "09:00"),
        "kind:marketing": ("19:00", "10:00"),
        "kind:reminder": None,
    }
    due = at(2026, 1, 10, 22, 30)  # 22:30 GMT
    assert release_time("+447400123456", "", due) == at(2026, 1, 11, 7, 0)
    assert release_time(LONDON, "", due) == at(2026, 1, 11, 9, 0)
    assert release_time(LONDON, "marketing", due) == at(2026, 1, 11, 10, 0)
    assert release_time(LONDON, "reminder", due) == due
    # New York: 17:30 EST, outside the default window.
    assert release_time(NEW_YORK, "", due) == due


def test_releases_are_spread_by_reference(settings):
    settings.SMS_OUTBOX_QUIET_HOURS_SPREAD = 600
    due, end = at(2026, 7, 1, 23, 0), at(2026, 7, 2, 7, 0)
    releases = [release_time(LONDON, "", due, f"ref{i}") for i in range(50)]
    assert all(end <= r < end + datetime.timedelta(seconds=600) for r in releases)
    assert len(set(releases)) > 40
    # Fixed per row: the same reference is released at the same time.
    assert release_time(LONDON, "", due, "ref7") == releases[7]
    # Rows outside the window are not delayed.
    noon = at(2026, 7, 1, 11, 0)
    assert release_time(LONDON, "", noon, "ref1") == noon


def test_zones_that_share_no_free_hour_wait_for_the_last_window_end(settings):
    # One free hour a day (07:00-08:00 local) in zones 25 hours apart: the
    # hours never meet.
    window = (datetime.time(8), datetime.time(7))
    zones = [
        zoneinfo.ZoneInfo("Pacific/Kiritimati"),
        zoneinfo.ZoneInfo("Pacific/Pago_Pago"),
    ]
    start = at(2026, 7, 1, 12, 0)
    release = schedule._first_free(start, zones, window)
    # 07:00 in Pago Pago (UTC-11) is 18:00 UTC; Kiritimati's 07:00 is 17:00.
    assert release == at(2026, 7, 1, 18, 0)


def test_without_phonenumbers_the_site_time_zone_is_used(monkeypatch, settings):
    monkeypatch.setattr(sms.phone, "phonenumbers", None)
    settings.TIME_ZONE = "Asia/Tokyo"
    assert [zone.key for zone in time_zones(LONDON)] == ["Asia/Tokyo"]
    # 12:00 UTC is 21:00 in Tokyo.
    assert release_time(LONDON, "", at(2026, 7, 1, 12, 0)) == at(2026, 7, 1, 23, 0)


def test_an_unplaceable_number_uses_the_site_time_zone(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    assert [zone.key for zone in time_zones("+447700900123")] == ["Europe/Berlin"]


@pytest.mark.parametrize(
    "value",
    [
        ("21:00",),
        ("21:00", "21:00"),
        ("9pm", "8am"),
        {"Great Britain": ("21:00", "08:00")},
        {"*": "21:00-08:00"},
    ],
)
def test_a_bad_setting_raises_and_the_check_says_so(settings, value):
    settings.SMS_OUTBOX_QUIET_HOURS = value
    with pytest.raises(SmsConfigurationError, match="SMS_OUTBOX_QUIET_HOURS has"):
        release_time(LONDON, "", at(2026, 7, 1, 23, 0))
    [error] = check_quiet_hours()
    assert isinstance(error, Error)
    assert error.id == "sms_outbox.E020"


def test_the_check_warns_when_phonenumbers_is_missing(monkeypatch):
    assert check_quiet_hours() == []
    monkeypatch.setattr(sms.phone, "phonenumbers", None)
    assert check_quiet_hours() == [
        Warning(
            "SMS_OUTBOX_QUIET_HOURS is set but the phonenumbers package is not "
            "installed: quiet hours are judged in the site's TIME_ZONE for every "
            "number, and per-country keys never apply.",
            hint='pip install "django-sms[phonenumbers]".',
            id="sms_outbox.W020",
        )
    ]


def test_no_setting_no_check(settings, monkeypatch):
    settings.SMS_OUTBOX_QUIET_HOURS = None
    monkeypatch.setattr(sms.phone, "phonenumbers", None)
    assert check_quiet_hours() == []


def _window_around_now():
    """Return a quiet window in UTC from an hour ago to an hour on, and its end."""
    now = timezone.now()
    start = (now - datetime.timedelta(hours=1)).replace(second=0, microsecond=0)
    end = (now + datetime.timedelta(hours=1)).replace(second=0, microsecond=0)
    return (start.time(), end.time()), end


@pytest.mark.django_db
def test_queued_sms_inside_the_window_waits_for_its_end(settings):
    window, end = _window_around_now()
    settings.SMS_OUTBOX_QUIET_HOURS = window
    settings.SMS_OUTBOX_QUIET_HOURS_SPREAD = 120
    connection = sms.get_connection(
        "sms_outbox.backends.QueuedSmsBackend", time_zone="UTC"
    )
    sms.send_sms("Night", "Acme", [LONDON, NEW_YORK], connection=connection)
    sms.Message("Code 1234", "Acme", [LONDON], connection, kind="otp").send()
    held = Message.objects.filter(body="Night")
    for row in held:
        assert end <= row.next_attempt_at < end + datetime.timedelta(seconds=120)
        assert row.time_zone == "UTC"
    code = Message.objects.get(kind="otp")
    assert code.next_attempt_at <= timezone.now()
    # The drain sends the code and leaves the others.
    assert send_queued().sent == 1
    assert set(Message.objects.values_list("body", "status")) == {
        ("Night", "queued"),
        ("Code 1234", "sent"),
    }


@pytest.mark.django_db
def test_a_bad_time_zone_is_refused_when_the_connection_is_built():
    with pytest.raises(ValueError, match="time_zone 'Mars/Olympus'"):
        sms.get_connection(
            "sms_outbox.backends.QueuedSmsBackend", time_zone="Mars/Olympus"
        )


@pytest.mark.django_db
def test_a_retry_checks_the_window_again(settings):
    """A row that fails just before the window opens waits until it ends.

    (A row due inside the window is not tried at all: the drain holds it
    before the call, below.)
    """
    settings.SMS_OUTBOX_BACKEND = "tests.support.outbox_backends.ScriptedBackend"
    settings.SMS_OUTBOX_RETRY_DELAY = 60
    settings.SMS_OUTBOX_RETRY_MAX_DELAY = 60
    now = timezone.now()
    # The window opens in 10 minutes; the retry (30-60 s) would be due before
    # it, so it is not held; then one that opened a minute ago holds it.
    opens = (now + datetime.timedelta(minutes=10)).replace(second=0, microsecond=0)
    ends = opens + datetime.timedelta(hours=2)
    settings.SMS_OUTBOX_QUIET_HOURS = (opens.time(), ends.time())
    ScriptedBackend.reset({LONDON: [ProviderUnavailable("503")] * 2})
    connection = sms.get_connection(
        "sms_outbox.backends.QueuedSmsBackend", time_zone="UTC"
    )
    sms.send_sms("Hi", "Acme", [LONDON], connection=connection)
    assert send_queued().retrying == 1
    row = Message.objects.get()
    assert row.next_attempt_at <= now + datetime.timedelta(seconds=120)

    # The window opens in 20 s: the row is tried now, and its retry (30-60 s
    # on) would fall inside, so it waits for the end.
    opens = (now + datetime.timedelta(seconds=20)).replace(microsecond=0)
    closes = opens + datetime.timedelta(hours=2)
    settings.SMS_OUTBOX_QUIET_HOURS = (opens.time(), closes.time())
    Message.objects.update(next_attempt_at=now - datetime.timedelta(seconds=1))
    assert send_queued().retrying == 1
    row.refresh_from_db()
    # When the window closes, by the database's clock (within a second).
    assert abs(row.next_attempt_at - closes) < datetime.timedelta(seconds=1)
    assert row.attempts == 2 and ScriptedBackend.sent == []


def test_the_policy_holds_a_retry_inside_the_window(settings):
    settings.SMS_OUTBOX_RETRY_DELAY = 60
    settings.SMS_OUTBOX_RETRY_MAX_DELAY = 60
    now = timezone.now()
    start = (now - datetime.timedelta(hours=1)).time()
    end = (now + datetime.timedelta(hours=3)).time()
    settings.SMS_OUTBOX_QUIET_HOURS = (start, end)
    row = ClaimedRow(1, "Hi", "Acme", LONDON, "ref", 0, "", "UTC")
    held = decide("retry", 0, row)
    assert 3 * 3600 - 120 < held.delay <= 3 * 3600
    assert decide("retry", 0).delay <= 60
    assert decide("retry", 0, row._replace(kind="otp")).delay <= 60


@pytest.mark.django_db
def test_a_drain_that_comes_late_holds_what_quiet_hours_now_cover(settings, caplog):
    """Rows due before the window opened wait for its end if no drain came by then."""
    settings.SMS_OUTBOX_BACKEND = "tests.support.outbox_backends.ScriptedBackend"
    ScriptedBackend.reset()
    settings.SMS_OUTBOX_QUIET_HOURS = None
    connection = sms.get_connection(
        "sms_outbox.backends.QueuedSmsBackend", time_zone="UTC"
    )
    sms.send_sms("Evening news", "Acme", [LONDON, NEW_YORK], connection=connection)
    sms.Message("Code 1234", "Acme", [LONDON], connection, kind="otp").send()
    due = timezone.now()
    assert all(row.next_attempt_at <= due for row in Message.objects.all())
    # The window opened while the rows waited: the drain comes late.
    window, end = _window_around_now()
    settings.SMS_OUTBOX_QUIET_HOURS = window
    with caplog.at_level("INFO", logger="sms_outbox.drain.run"):
        result = send_queued()
    assert (result.sent, result.retrying, result.failed) == (1, 0, 0)
    assert [m.body for m in ScriptedBackend.sent] == ["Code 1234"]
    assert "Held 2 SMS whose recipients' quiet hours began" in caplog.text
    for row in Message.objects.filter(body="Evening news"):
        assert (row.status, row.attempts, row.claimed_by) == ("queued", 0, "")
        assert row.next_attempt_at == end  # no spread in this module
        assert not row.attempts_log.exists()
    # Once the window is over, they go out as usual.
    settings.SMS_OUTBOX_QUIET_HOURS = None
    Message.objects.filter(status="queued").update(next_attempt_at=due)
    assert send_queued().sent == 2
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}
