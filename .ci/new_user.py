#!/usr/bin/env python3
"""A new user's first hour, run for real: install, quick start, a test run.

In a temporary directory: a fresh virtualenv; django-sms installed from a copy
of this checkout with the Twilio extra, as docs/install.md says (pip fetches
Django and the SDK from PyPI, or its cache); `django-admin startproject`; the
`# settings.py` blocks of docs/quickstart.md appended to the generated
settings in order, the shell and console commands of the page run as written
(`check`, `migrate`, a `send_sms()` through the queued backend,
`send_queued_sms` delivering it to the console); then the user's test module
of docs/testing-your-code.md run by pytest-django with SMS_BACKEND set to
Twilio: the plugin, loaded through its entry point, must capture the SMS in
`sms.outbox` and send nothing (any HTTPS request goes to a closed port).
Ends with "new user walk-through: ok" or exits non-zero.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
DOCS = CHECKOUT / "docs"
SKIP = shutil.ignore_patterns(
    ".git", ".venv*", "build", "dist", "*.egg-info", "test-artifacts", "docs",
    "__pycache__", ".mypy_cache", ".hypothesis", "*.sqlite3", "sms-messages",
)  # fmt: skip


def blocks(page: Path, language: str) -> list[str]:
    """Return the fenced ``language`` blocks of a Markdown page, in order."""
    return re.findall(
        rf"^```{language}\n(.*?)^```", page.read_text(), re.MULTILINE | re.DOTALL
    )


def step(text: str) -> None:
    print(f"== {text}", flush=True)


def run(args: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> str:
    """Run ``args``; print and return its output; exit on failure if ``check``."""
    print("$ " + " ".join(args), flush=True)
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    output = result.stdout + result.stderr
    print(output, end="" if output.endswith("\n") or not output else "\n")
    if check and result.returncode != 0:
        sys.exit(
            f"new user walk-through: FAILED ({args[0]} exited {result.returncode})"
        )
    return output


def expect(condition: bool, what: str) -> None:
    if not condition:
        sys.exit(f"new user walk-through: FAILED ({what})")
    print(f"   ok: {what}", flush=True)


def main() -> None:
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="sms-new-user-"))
    try:
        walk(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"new user walk-through: ok in {time.monotonic() - started:.0f} s")


def walk(work: Path) -> None:
    venv = work / "venv"
    bin_ = venv / "bin"
    # Nothing of this run's own virtualenv or Django settings leaks in. Any
    # HTTPS request (to api.twilio.com) goes to a closed port and fails;
    # pip's index is reached without that proxy, through PIP_PROXY if set.
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"VIRTUAL_ENV", "PYTHONPATH", "DJANGO_SETTINGS_MODULE"}
    }
    env["PATH"] = f"{bin_}{os.pathsep}{env.get('PATH', '')}"
    site = work / "mysite"

    step(f"a fresh virtualenv in {venv}")
    run([sys.executable, "-m", "venv", str(venv)], work, env)

    step("install django-sms from a checkout, as docs/install.md says")
    clone = work / "django-sms"
    shutil.copytree(CHECKOUT, clone, ignore=SKIP)
    pip = [str(bin_ / "python"), "-m", "pip", "install", "--quiet"]
    run([*pip, "./django-sms[twilio]"], work, env)
    version = run(
        [str(bin_ / "python"), "-c", "import sms; print(sms.__version__)"], work, env
    ).strip()
    expect(version == pyproject_version(), f"sms.__version__ is {version}")

    step("django-admin startproject mysite")
    run(["django-admin", "startproject", "mysite"], work, env)
    settings = site / "mysite" / "settings.py"

    step("the quick start, docs/quickstart.md")
    quickstart = DOCS / "quickstart.md"
    settings_blocks = [
        b for b in blocks(quickstart, "python") if b.startswith("# settings.py")
    ]
    sending = [
        b for b in blocks(quickstart, "python") if b.startswith("from sms import")
    ]
    expect(len(settings_blocks) == 3 and len(sending) == 1, "the page's blocks found")
    env_run = dict(env, TWILIO_ACCOUNT_SID="AC" + "0" * 32, TWILIO_AUTH_TOKEN="made-up")
    env_run["HTTPS_PROXY"] = env_run["https_proxy"] = "http://127.0.0.1:9"
    manage = [str(bin_ / "python"), "manage.py"]

    append(settings, settings_blocks[0])
    printed = run([*manage, "shell", "-c", sending[0]], site, env_run)
    expect("Here is the message" in printed, "the console backend printed the SMS")

    append(settings, settings_blocks[1])
    append(settings, settings_blocks[2])
    run([*manage, "check", "--fail-level", "WARNING"], site, env_run)
    outputs = []
    for block in blocks(quickstart, "console"):
        for line in block.splitlines():
            command = line.split("  #")[0].strip()
            if command.startswith("python manage.py "):
                args = shlex_split(command.removeprefix("python manage.py "))
                outputs.append(run([*manage, *args], site, env_run))
    expect(len(outputs) == 3, "migrate, a send_sms() and send_queued_sms ran")
    expect(
        "Here is the message" not in outputs[1], "send_sms() queued, printed nothing"
    )
    expect(
        "Here is the message" in outputs[2] and "to: +441134960000" in outputs[2],
        "send_queued_sms delivered it to the console",
    )

    step("a user's tests with pytest-django, docs/testing-your-code.md")
    testing = DOCS / "testing-your-code.md"
    install = [b for b in blocks(testing, "console") if "pytest-django" in b]
    expect(len(install) == 1, "the page says what to install")
    run([*pip, *install[0].split()[2:]], work, env)
    ini = blocks(testing, "ini")[0].replace("# pytest.ini\n", "")
    (site / "pytest.ini").write_text(ini)
    test_module = [
        b for b in blocks(testing, "python") if b.startswith("# test_sms.py")
    ]
    (site / "test_sms.py").write_text(test_module[0])
    # The site now sends directly through Twilio: without the plugin the
    # first test would reach (the closed port standing in for) Twilio.
    append(settings, 'SMS_BACKEND = "sms.backends.twilio.SmsBackend"\n')
    output = run(
        [str(bin_ / "python"), "-m", "pytest", "-v", "-p", "no:cacheprovider"],
        site,
        env_run,
    )
    expect("test_sms.py::test_captured_not_sent PASSED" in output, "captured, not sent")
    expect("test_sms.py::test_each_test_starts_empty PASSED" in output, "empty again")
    output = run(
        [str(bin_ / "python"), "-m", "pytest", "-q", "-p", "no:django_sms"],
        site,
        env_run,
        check=False,
    )
    expect(
        "FAILED test_sms.py::test_captured_not_sent" in output
        and "sms/backends/_provider.py" in output,
        "with the plugin off (-p no:django_sms) the test goes to the Twilio backend",
    )


def append(settings: Path, block: str) -> None:
    with settings.open("a") as file:
        file.write("\n" + block)


def shlex_split(command: str) -> list[str]:
    import shlex

    return shlex.split(command)


def pyproject_version() -> str:
    text = (CHECKOUT / "pyproject.toml").read_text()
    return re.search(r'^version = "([^"]+)"', text, re.MULTILINE).group(1)


if __name__ == "__main__":
    main()
