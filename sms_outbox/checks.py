"""System checks for the outbox: a delivering backend, its database, receipts, tasks."""

from __future__ import annotations

import sys
import types
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.checks import CheckMessage, Error, Warning
from django.db import DatabaseError, connections, router
from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string

from sms.checks import check_backend_setting
from sms.exceptions import SmsConfigurationError, SmsImproperlyInstalled
from sms_outbox.conf import get_setting


def check_outbox_backend(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Check that ``SMS_OUTBOX_BACKEND`` delivers and has what it needs."""
    errors = check_backend_setting("SMS_OUTBOX_BACKEND", "sms_outbox")
    if errors:
        return errors
    from sms_outbox.backends import QueuedSmsBackend

    path = get_setting("SMS_OUTBOX_BACKEND")
    klass = import_string(path)
    if isinstance(klass, type) and issubclass(klass, QueuedSmsBackend):
        return [
            Error(
                f"SMS_OUTBOX_BACKEND is {path!r}, the queued backend itself: "
                "queued SMS would be queued again forever.",
                hint="Set SMS_OUTBOX_BACKEND to a backend that delivers, such as "
                "'sms.backends.twilio.SmsBackend'.",
                id="sms_outbox.E004",
            )
        ]
    return []


def _outbox_alias() -> str:
    """Return the database alias the outbox writes its rows to."""
    from sms_outbox.models import Message

    return router.db_for_write(Message)


def check_sqlite_locking(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when SQLite is set up so that concurrent drains hit "locked" errors.

    A deployment check (``check --deploy``), also printed by ``send_queued_sms
    --concurrency`` above 1: a site that drains one run at a time needs none
    of it, and the fix has a cost its hint states.
    """
    alias = _outbox_alias()
    settings_dict = connections[alias].settings_dict
    if settings_dict["ENGINE"] != "django.db.backends.sqlite3":
        return []
    options = settings_dict.get("OPTIONS", {})
    if str(options.get("transaction_mode", "")).upper() == "IMMEDIATE" and (
        options.get("timeout", 5) >= 5
    ):
        return []
    return [
        Warning(
            "The outbox runs on SQLite without IMMEDIATE transactions and a busy "
            "timeout of at least 5 s: drains that run at the same time "
            "(--concurrency, a worker beside cron) may stall or retry on "
            "'database is locked'.",
            hint=f"Set DATABASES[{alias!r}]['OPTIONS'] = {{'transaction_mode': "
            "'IMMEDIATE', 'timeout': 20}. The cost: every transaction then takes "
            "the write lock when it begins, so with ATOMIC_REQUESTS every request "
            "does, and requests that write run one at a time. Or run one drain "
            "at a time and leave SQLite as it is.",
            id="sms_outbox.W001",
        )
    ]


def check_migrations(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """Warn when the outbox's database lacks ``sms_outbox`` migrations.

    Without them ``send_sms()`` through the queued backend and
    ``send_queued_sms`` fail. A database check, as Django means it: it looks
    only when the outbox's database is among those named (``check
    --database``, the test runner), so that a plain ``check`` gives the same
    answer whatever state the database is in, and a pipeline that runs
    ``check --deploy --fail-level WARNING`` before ``migrate`` does not stop
    on the migrations it is about to apply. ``migrate`` itself, which runs
    the database checks first, hears nothing of the migrations it is about
    to apply. ``runserver`` prints Django's own notice of unapplied
    migrations. With apps named it looks only if ``sms_outbox`` is among
    them. A database it cannot reach gets no message here: the commands that
    use the database report that themselves.
    """
    from sms_outbox.schema import unapplied_migrations

    if app_configs is not None and not any(
        config.label == "sms_outbox" for config in app_configs
    ):
        return []  # ``check some_app``: another app's checks were asked for
    alias = _outbox_alias()
    if not databases or alias not in databases or _migrating():
        return []
    if not router.allow_migrate(alias, "sms_outbox"):
        return []  # the site keeps these tables out of Django's migrations
    try:
        missing = unapplied_migrations(alias)
    except DatabaseError:
        return []
    if not missing:
        return []
    count = len(missing)
    names = ", ".join(missing)
    return [
        Warning(
            f"The outbox's database {alias!r} has {count} unapplied sms_outbox "
            f"migration{'' if count == 1 else 's'} ({names}): send_sms() through "
            "the queued backend and send_queued_sms fail until "
            f"{'it is' if count == 1 else 'they are'} applied.",
            hint=f"Run `python manage.py migrate` (with --database {alias} if "
            "that is not your default database).",
            id="sms_outbox.W008",
        )
    ]


def _migrating() -> bool:
    """Return True when Django's ``migrate`` command (or a subclass) runs the checks.

    ``migrate`` runs the database checks before it applies anything, and
    Django passes no sign of which command asked; the command is found on
    the call stack instead.
    """
    from django.core.management.commands.migrate import Command as Migrate

    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None:
        if isinstance(frame.f_locals.get("self"), Migrate):
            return True
        frame = frame.f_back
    return False


def check_mysql_server(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """Warn when the outbox's MySQL or MariaDB lacks what it relies on there.

    A database check (``migrate``, ``check --database``): it asks the server
    whether it has ``SELECT ... FOR UPDATE SKIP LOCKED``, which lets
    concurrent drains pass each other's rows, and whether the connection and
    the ``body`` column use utf8mb4, without which an SMS with an emoji
    cannot be stored.
    """
    alias = _outbox_alias()
    connection = connections[alias]
    if not databases or alias not in databases or connection.vendor != "mysql":
        return []
    connection_charset, column_charset = _mysql_charsets(connection)
    messages = _skip_locked_warning(connection, alias)
    if connection_charset != "utf8mb4":
        messages.append(
            Warning(
                f"The connection to the outbox's database ({alias!r}) uses the "
                f"{connection_charset} character set: an SMS body with an "
                "emoji cannot be stored.",
                hint=f"Set DATABASES[{alias!r}]['OPTIONS']['charset'] = 'utf8mb4'.",
                id="sms_outbox.W004",
            )
        )
    if column_charset != "utf8mb4":
        messages.append(_column_charset_warning(alias, column_charset))
    return messages


def _mysql_charsets(connection: Any) -> tuple[str, str]:
    """Return the connection's charset and the ``body`` column's (or the db's)."""
    from sms_outbox.models import Message

    with connection.cursor() as cursor:
        # The column's charset once migrated, the database's default before.
        cursor.execute(
            "SELECT @@character_set_connection, COALESCE((SELECT "
            "character_set_name FROM information_schema.columns WHERE "
            "table_schema = DATABASE() AND table_name = %s AND column_name = %s), "
            "@@character_set_database)",
            [Message._meta.db_table, Message._meta.get_field("body").column],
        )
        connection_charset, column_charset = cursor.fetchone()
    return connection_charset, column_charset


def _skip_locked_warning(connection: Any, alias: str) -> list[CheckMessage]:
    """Return W003 if the server cannot skip locked rows, else nothing."""
    if connection.features.has_select_for_update_skip_locked:
        return []
    server = "MariaDB" if connection.mysql_is_mariadb else "MySQL"
    version = ".".join(map(str, connection.mysql_version))
    return [
        Warning(
            f"The outbox's database ({alias!r}) is {server} {version}, "
            "which has no SELECT ... FOR UPDATE SKIP LOCKED: concurrent "
            "drains wait for each other's row locks instead of passing "
            "them.",
            hint="Upgrade to MariaDB 10.6 or MySQL 8.0.1 or later, or run "
            "one send_queued_sms at a time.",
            id="sms_outbox.W003",
        )
    ]


def _column_charset_warning(alias: str, column_charset: str) -> CheckMessage:
    """Return W005: the outbox's table cannot store an emoji."""
    from sms_outbox.models import Message

    table = Message._meta.db_table
    return Warning(
        f"The outbox's table {table} (or, before it is created, its "
        f"database {alias!r}) stores text as {column_charset}: an SMS "
        "body with an emoji cannot be stored.",
        hint=f"Run ALTER TABLE {table} CONVERT TO CHARACTER SET utf8mb4 "
        "COLLATE utf8mb4_unicode_ci; (before migrate: ALTER DATABASE "
        "... CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci).",
        id="sms_outbox.W005",
    )


def check_receipt_settings(
    app_configs: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """Warn when provider webhooks are expected but could not be verified.

    The webhook endpoints refuse what they cannot verify (and answer 500 when
    the secret to verify with is missing), so a missing secret loses every
    delivery receipt, or every inbound SMS, without a trace.
    """
    return _check_messagebird_reports() + _check_vonage_secret() + _check_sns_topics()


def _check_messagebird_reports() -> list[CheckMessage]:
    # MessageBird signs reports with a signing key of its own, not the access key.
    if get_setting("MESSAGEBIRD_SIGNING_KEY"):
        return []
    if not get_setting("SMS_STATUS_CALLBACK_URL"):
        return []
    from sms.backends.messagebird import SmsBackend as MessageBirdBackend

    setting = _setting_using(MessageBirdBackend)
    if setting is None:
        return []
    return [
        Warning(
            f"SMS_STATUS_CALLBACK_URL asks MessageBird for delivery "
            f"reports ({setting} is the MessageBird backend), but "
            "MESSAGEBIRD_SIGNING_KEY is not set: the report endpoint "
            "cannot verify them and will answer 500.",
            hint="Set MESSAGEBIRD_SIGNING_KEY to the signing key from "
            "MessageBird's dashboard (not the access key).",
            id="sms_outbox.W002",
        )
    ]


def _check_vonage_secret() -> list[CheckMessage]:
    # Vonage may send receipts (and inbound SMS) to URLs set in its dashboard,
    # so an installed endpoint counts even without SMS_STATUS_CALLBACK_URL.
    if get_setting("VONAGE_SIGNATURE_SECRET"):
        return []
    from sms.backends.vonage import SmsBackend as VonageBackend

    setting = _setting_using(VonageBackend)
    if setting is None or not _routed(VONAGE_WEBHOOKS):
        return []
    return [
        Warning(
            f"{setting} is the Vonage backend and the outbox's Vonage webhook "
            "URLs are installed, but VONAGE_SIGNATURE_SECRET is not set: the "
            "endpoints cannot verify what Vonage sends and will answer 500.",
            hint="Set VONAGE_SIGNATURE_SECRET to the signature secret in the "
            "Vonage dashboard (API settings) and turn on signed webhooks there, "
            "with the method in VONAGE_SIGNATURE_METHOD.",
            id="sms_outbox.W006",
        )
    ]


def _check_sns_topics() -> list[CheckMessage]:
    from sms.backends.aws import SmsBackend as AwsBackend

    arns, names = get_setting("AWS_SNS_INBOUND_TOPIC_ARNS"), ("sms_outbox:aws_inbound",)
    if arns or _setting_using(AwsBackend) is None or not _routed(names):
        return []
    message = "AWS_SNS_INBOUND_TOPIC_ARNS is empty: inbound/aws/ refuses every SMS."
    hint = "List the ARNs of your two-way SMS SNS topics in AWS_SNS_INBOUND_TOPIC_ARNS."
    return [Warning(message, hint=hint, id="sms_outbox.W007")]


#: The outbox's URL names that verify with ``VONAGE_SIGNATURE_SECRET``.
VONAGE_WEBHOOKS = ("sms_outbox:vonage_delivery_receipt", "sms_outbox:vonage_inbound")


def _setting_using(backend: type) -> str | None:
    """Return the backend setting that names ``backend`` (or a subclass), if any."""
    for setting in ("SMS_BACKEND", "SMS_OUTBOX_BACKEND"):
        try:
            klass = import_string(get_setting(setting) or "")
        except ImportError:
            continue  # reported by the backend checks
        if isinstance(klass, type) and issubclass(klass, backend):
            return setting
    return None


def _routed(names: tuple[str, ...]) -> bool:
    """Return True if the project's URLconf routes any of the URL ``names``."""
    if not getattr(settings, "ROOT_URLCONF", None):
        return False
    for name in names:
        try:
            reverse(name)
        except NoReverseMatch:
            continue
        return True
    return False


def check_task_settings(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Report an ``SMS_OUTBOX_TASK`` that cannot work or works only in part."""
    from sms_outbox.tasks import get_task_options

    try:
        options = get_task_options()
    except SmsImproperlyInstalled:
        return [
            checks.Error(
                "SMS_OUTBOX_TASK is enabled, but neither django.tasks (Django 6) "
                "nor the django-tasks backport (Django 5.2) can be imported: no "
                "drain task can be enqueued, so send_sms() refuses to queue.",
                hint='Install the backport with: pip install "django-sms[outbox-'
                'tasks]", or set SMS_OUTBOX_TASK = {"enabled": False} and run '
                "send_queued_sms from cron or as a worker.",
                id="sms_outbox.E010",
            )
        ]
    except SmsConfigurationError as err:
        return [
            checks.Error(
                str(err),
                hint="See docs/tasks.md ('Task workers') for the keys.",
                id="sms_outbox.E010",
            )
        ]
    if not options["enabled"]:
        return []
    from sms_outbox.tasks import task_backends

    alias = options["backend"]
    if alias not in task_backends.settings:
        return [
            checks.Error(
                f"SMS_OUTBOX_TASK names the task backend {alias!r}, which TASKS "
                "does not define.",
                hint=f"Add {alias!r} to TASKS or set 'backend' to one of "
                f"{sorted(task_backends.settings)}.",
                id="sms_outbox.E011",
            )
        ]
    return _check_backend(task_backends[alias], options)


def _check_backend(backend: Any, options: dict[str, Any]) -> list[checks.CheckMessage]:
    alias, queue = options["backend"], options["queue_name"]
    found: list[checks.CheckMessage] = []
    if backend.queues and queue not in backend.queues:
        found.append(
            checks.Error(
                f"SMS_OUTBOX_TASK uses the queue {queue!r}, which the task "
                f"backend {alias!r} does not serve: every wake-up would fail.",
                hint=f"Add {queue!r} to QUEUES of TASKS[{alias!r}] or set "
                "'queue_name' to one of its queues.",
                id="sms_outbox.E012",
            )
        )
    name = type(backend).__name__
    if not backend.supports_defer:
        found.append(
            checks.Warning(
                f"The task backend {alias!r} ({name}) does not support run_after: "
                "each commit that queues SMS enqueues its own drain, and retries "
                "and send_after rows get no wake-up.",
                hint="Keep a periodic send_queued_sms (cron) for retries and "
                "scheduled SMS, or use a backend with deferred tasks such as "
                "django_tasks_db.DatabaseBackend.",
                id="sms_outbox.W010",
            )
        )
    if options["priority"] and not backend.supports_priority:
        found.append(
            checks.Warning(
                f"SMS_OUTBOX_TASK sets priority {options['priority']} but the task "
                f"backend {alias!r} ({name}) does not support priorities: it is "
                "ignored.",
                hint="Remove 'priority' from SMS_OUTBOX_TASK or use a backend "
                "that supports priorities.",
                id="sms_outbox.W011",
            )
        )
    return found


def check_guard_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Check ``SMS_GUARDS``: valid and usable as written.

    Without the ``phonenumbers`` extra no number has a country, so rules
    keyed by ISO country code never match (every destination falls under
    ``"*"``), and spend caps need a price for every destination.
    """
    from sms.phone import phonenumbers
    from sms_outbox.guards import get_guards

    try:
        guards = get_guards()
    except SmsConfigurationError as err:
        return [
            Error(
                str(err),
                hint="Fix SMS_GUARDS as the message says (docs: Send guards).",
                id="sms_outbox.E030",
            )
        ]
    found: list[CheckMessage] = []
    by_country = [key for key in guards.countries if key[:1] != "+" and key != "*"]
    if phonenumbers is None and (by_country or guards.home):
        found.append(
            Warning(
                "SMS_GUARDS names countries by ISO code, but without the "
                "phonenumbers package no number has a country: those rules "
                "never match, and every number counts as international.",
                hint='pip install "django-sms[phonenumbers]", or key the rules '
                "by number prefix ('+44').",
                id="sms_outbox.W031",
            )
        )
    prices = get_setting("SMS_PRICES") or {}
    if guards.caps and "*" not in prices:
        found.append(
            Warning(
                "SMS_GUARDS sets spend caps but SMS_PRICES has no '*' price: an "
                "SMS to a destination without a price raises "
                "SmsConfigurationError.",
                hint="Add '*' to SMS_PRICES with the price of your dearest "
                "destination.",
                id="sms_outbox.W032",
            )
        )
    return found


def check_guard_countries(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn in production (``check --deploy``) when no country rule is set."""
    from sms_outbox.guards import get_guards

    try:
        countries = get_guards().countries
    except SmsConfigurationError:
        return []  # check_guard_settings() reports it
    if countries:
        return []
    return [
        Warning(
            "SMS_GUARDS sets no country: SMS go to every destination, "
            "premium-rate ranges abroad included (SMS pumping).",
            hint="Set SMS_GUARDS['countries'] to the countries you send to, "
            "such as {'GB': 'allow', '*': 'block'}.",
            id="sms_outbox.W030",
        )
    ]
