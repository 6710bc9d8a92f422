"""TASKS settings for django.tasks' in-process backends, wherever it is installed."""

import importlib.util

# Django 6.0 ships django.tasks; older Djangos get it from the django-tasks package.
FRAMEWORK = (
    "django.tasks" if importlib.util.find_spec("django.tasks") else "django_tasks"
)
IMMEDIATE = {"default": {"BACKEND": f"{FRAMEWORK}.backends.immediate.ImmediateBackend"}}
DUMMY = {"default": {"BACKEND": f"{FRAMEWORK}.backends.dummy.DummyBackend"}}
