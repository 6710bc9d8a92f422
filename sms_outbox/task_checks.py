"""System checks of ``SMS_OUTBOX_TASK``: the task backend can take the wake-ups."""

from __future__ import annotations

from typing import Any

from django.core import checks

from sms.exceptions import SmsConfigurationError

__all__ = ["check_task_settings"]


def check_task_settings(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Report an ``SMS_OUTBOX_TASK`` that cannot work or works only in part."""
    from sms_outbox.wakeups import get_task_options

    try:
        options = get_task_options()
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
