"""Read the drains' results from an RQ or Celery engine, and clear its queue.

Run as ``python -m tests.support.engine_child tasks`` or ``... clear`` with
``DJANGO_SETTINGS_MODULE=tests.support.engine_settings`` and the environment
that module reads (``OUTBOX_ENGINE``, ``OUTBOX_QUEUE``).
"""

import json
import sys

import django


def tasks():
    """Return the finished drains' statuses, the SMS they sent and their workers.

    ``waiting`` counts the wake-ups not finished yet that the broker can see
    (queued, scheduled or running; Celery workers hold the deferred ones
    themselves, so for Celery only the queued ones).
    """
    from django.conf import settings

    if settings.ENGINE == "rq":
        return _rq_tasks(settings.QUEUE)
    return _celery_tasks(settings.QUEUE)


def _rq_tasks(queue_name):
    import django_rq
    from django_tasks_rq import Job
    from rq.registry import (
        FailedJobRegistry,
        FinishedJobRegistry,
        ScheduledJobRegistry,
        StartedJobRegistry,
    )

    queue = django_rq.get_queue(queue_name, job_class=Job)
    finished = FinishedJobRegistry(queue=queue).get_job_ids()
    failed = FailedJobRegistry(queue=queue).get_job_ids()
    waiting = (
        queue.count
        + ScheduledJobRegistry(queue=queue).count
        + StartedJobRegistry(queue=queue).count
    )
    jobs = [job for job in Job.fetch_many(finished, connection=queue.connection) if job]
    values = [job.return_value() or {} for job in jobs]
    return {
        "status": sorted({"SUCCESS"} if finished else set())
        + (["FAILURE"] if failed else []),
        "finished": len(finished),
        "sent": sum(value.get("sent", 0) for value in values),
        "workers": sorted({job.worker_name for job in jobs if job.worker_name}),
        "waiting": waiting,
    }


def _celery_tasks(queue_name):
    from celery import current_app

    backend = current_app.backend
    client = backend.client
    results = [
        json.loads(client.get(key))
        for key in client.scan_iter(match=f"{queue_name}:celery-task-meta-*")
    ]
    with current_app.connection_for_write() as connection:
        _, waiting, _ = connection.default_channel.queue_declare(
            queue=queue_name, passive=True
        )
    done = [meta for meta in results if meta["status"] in ("SUCCESS", "FAILURE")]
    return {
        "status": sorted({meta["status"] for meta in done}),
        "finished": len(done),
        "sent": sum(
            (meta["result"] or {}).get("sent", 0)
            for meta in done
            if meta["status"] == "SUCCESS"
        ),
        "workers": sorted({meta.get("worker") for meta in done if meta.get("worker")}),
        "waiting": waiting,
    }


def clear():
    """Delete the test's queue, its wake-up keys and its results from the brokers."""
    import redis
    from django.conf import settings

    if settings.ENGINE == "rq":
        import django_rq

        django_rq.get_queue(settings.QUEUE).delete(delete_jobs=True)
    else:
        from celery import current_app

        with current_app.connection_for_write() as connection:
            connection.default_channel.queue_delete(settings.QUEUE)
    # Never flush the database: other runs may share the server.
    client = redis.Redis.from_url(settings.REDIS_URL)
    for pattern in (f"{settings.QUEUE}:*", f"rq:*:{settings.QUEUE}"):
        for key in client.scan_iter(match=pattern):
            client.delete(key)


def main(argv):
    django.setup()
    if argv[0] == "tasks":
        print(json.dumps(tasks()))
    elif argv[0] == "clear":
        clear()


if __name__ == "__main__":
    main(sys.argv[1:])
