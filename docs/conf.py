"""Sphinx configuration of the django-sms documentation (``make docs``).

The pages are Markdown (MyST); the API reference is autodoc over the real
modules, so Django is set up first and every provider SDK must be importable:
``make docs`` installs the package with all its extras plus the ``docs``
dependency group.
"""

import importlib
import sys
from importlib import metadata
from pathlib import Path

import django
from django.conf import settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Just enough of a project to import the outbox's models for autodoc.
settings.configure(
    INSTALLED_APPS=[
        "django.contrib.contenttypes",
        "django.contrib.auth",
        "sms",
        "sms_outbox",
    ],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3"}},
    DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    USE_TZ=True,
)
django.setup()

# drain_outbox is a django.tasks Task object, which autodoc cannot read as a
# function; document the function it wraps (this process never runs tasks).
tasks = importlib.import_module("sms_outbox.tasks")
tasks.drain_outbox = getattr(tasks.drain_outbox, "func", tasks.drain_outbox)

project = "django-sms"
author = "the django-sms contributors"
copyright = "django-sms contributors, BSD-3-Clause"
release = metadata.version("django-sms")

extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
# Heading anchors make links such as outbox.md#queueing work in Sphinx as on
# GitHub, which renders the same Markdown files.
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# Annotations name both Message classes (sms.Message, the outbox model) by
# their short name; Sphinx would warn that the short name is ambiguous.
suppress_warnings = ["ref.python"]
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "furo"
html_title = f"django-sms {release}"
