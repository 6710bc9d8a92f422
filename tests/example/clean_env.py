"""Run the example project in a fresh interpreter with a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_example(args, tmp_path, **env) -> subprocess.CompletedProcess:
    """Run ``python *args`` in the repo with only ``env`` (plus PATH) set.

    Unlike ``tests.processes.run_python``, nothing of the test run's own
    environment (``DATABASE_URL``, ``DEBUG``, a developer's ``SECURE_*``)
    leaks in, and a developer's ``.env`` is never read.
    """
    clean = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "ENV_FILE": str(tmp_path / "absent.env"),
        **env,
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )
