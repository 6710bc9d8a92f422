"""Helpers the tests share; test modules import from here, never from each other.

``processes`` runs code in fresh interpreters; ``receipts`` and ``inbound``
build signed provider webhooks; ``outbox_backends`` are the outbox's test
backends; ``shared`` drives real outbox processes on the test's database
through ``child``/``task_child`` with ``proc_settings``/``task_proc_settings``;
``routed_child`` runs the outbox on a database of its own (``routed_settings``);
``browser``, ``fuzz`` and ``tasks`` serve the browser, fuzz and task tests.
Fixtures stay in ``conftest.py`` files, where pytest finds them.
"""
