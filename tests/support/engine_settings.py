"""Settings for the task engine tests' processes: drains run on RQ or Celery workers.

On top of ``tests.support.task_proc_settings``. ``OUTBOX_ENGINE`` picks the
engine (``rq``: django-tasks-rq on Redis; ``celery``: django-tasks-fennel on
RabbitMQ), ``OUTBOX_QUEUE`` the queue name: each test uses a queue of its own,
so runs that share the brokers (parallel CI legs) never take each other's
wake-ups. ``OUTBOX_REDIS_URL`` and ``OUTBOX_AMQP_URL`` name the brokers. The
cache that bounds wake-ups is Redis, shared by every process of the test, as
docs/tasks.md recommends for many hosts.
"""

import os

from tests.support.task_proc_settings import *  # noqa: F403
from tests.support.task_proc_settings import INSTALLED_APPS

ENGINE = os.environ["OUTBOX_ENGINE"]
QUEUE = os.environ["OUTBOX_QUEUE"]
REDIS_URL = os.environ.get("OUTBOX_REDIS_URL", "redis://127.0.0.1:6379/0")

# drain_outbox is defined on the "default" queue, so the backend must accept
# it; each wake-up goes to OUTBOX_QUEUE through SMS_OUTBOX_TASK.
QUEUES = ["default", QUEUE]

if ENGINE == "rq":
    INSTALLED_APPS = [*INSTALLED_APPS, "django_rq", "django_tasks_rq"]
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": QUEUES}}
    RQ_QUEUES = {name: {"URL": REDIS_URL} for name in QUEUES}
elif ENGINE == "celery":
    INSTALLED_APPS = [*INSTALLED_APPS, "django_tasks_fennel"]
    TASKS = {
        "default": {"BACKEND": "django_tasks_fennel.CeleryBackend", "QUEUES": QUEUES}
    }
    CELERY_BROKER_URL = os.environ.get(
        "OUTBOX_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//"
    )
    CELERY_RESULT_BACKEND = REDIS_URL
    # The test reads the drains' results under this prefix.
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"global_keyprefix": f"{QUEUE}:"}
    CELERY_RESULT_EXTENDED = True
    CELERY_TASK_DEFAULT_QUEUE = QUEUE
    # One wake-up at a time per worker: a prefetched one would wait behind
    # the drain that is running instead of going to an idle worker.
    CELERY_WORKER_PREFETCH_MULTIPLIER = 1
else:
    raise ValueError(f"OUTBOX_ENGINE is {ENGINE!r}: set it to 'rq' or 'celery'.")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": QUEUE,
    }
}
SMS_OUTBOX_TASK = {**SMS_OUTBOX_TASK, "queue_name": QUEUE}  # noqa: F405
if ENGINE == "rq":
    # RQ schedules to the whole second, dropping the fraction, so a wake-up
    # for 12.8 s runs from 12 s on; a window of whole seconds (the default)
    # keeps every wake-up time whole (docs/tasks.md).
    SMS_OUTBOX_TASK["window"] = 1.0
