"""Run Python code in a fresh interpreter, for tests of import-time behaviour."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_python(code, **env):
    """Run ``code`` in a fresh interpreter and return its stdout.

    ``DJANGO_SETTINGS_MODULE`` is removed from the environment unless ``env``
    sets it; the interpreter must exit 0.
    """
    environ = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    environ.update(env)
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environ,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
