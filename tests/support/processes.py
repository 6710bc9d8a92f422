"""Run code elsewhere: a fresh interpreter, the example project, a child as nobody."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


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


def run_example(args, tmp_path, **env) -> subprocess.CompletedProcess:
    """Run ``python *args`` in the repo with only ``env`` (plus PATH) set.

    Unlike ``run_python``, nothing of the test run's own environment
    (``DATABASE_URL``, ``DEBUG``, a developer's ``SECURE_*``) leaks in, and a
    developer's ``.env`` is never read.
    """
    clean = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "ENV_FILE": str(tmp_path / "absent.env"),
        **env,
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_as_nobody(func):
    """Return ``str(func())`` computed in a forked child running as nobody.

    Root bypasses directory permissions, so a check of them needs another
    user; forking keeps everything already imported.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        os.close(read_end)
        try:
            nobody = pwd.getpwnam("nobody")
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            report = str(func())
        except BaseException as err:
            report = repr(err)
        os.write(write_end, report.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = pipe.read().decode()
    os.waitpid(pid, 0)
    return report
