"""The settings reference (docs/settings.md) documents exactly every setting read.

Those are ``sms.conf.DEFAULTS`` and ``sms_outbox.conf.DEFAULTS``.

Each setting is a ``### `NAME``` section whose first ``Default:`` line holds
the default as a Python literal in backticks. The page and the table can then
never drift apart: a setting added to the code without a section, a section
left behind for a setting that is gone, or a default changed on one side only,
fails here.
"""

import ast
import re
from pathlib import Path

from django.test import SimpleTestCase

from sms.conf import DEFAULTS as SMS_DEFAULTS
from sms_outbox.conf import DEFAULTS as OUTBOX_DEFAULTS

DEFAULTS = {**SMS_DEFAULTS, **OUTBOX_DEFAULTS}

PAGE = Path(__file__).resolve().parent.parent / "docs" / "settings.md"
HEADING = re.compile(r"^### `([^`]+)`\s*$")
DEFAULT = re.compile(r"^Default: `(.+?)`(?:\s|$)")


def documented_settings(text):
    """Return ``{name: default line or None}`` for every setting section."""
    found, current = {}, None
    for line in text.splitlines():
        heading = HEADING.match(line)
        if heading:
            current = heading.group(1)
            if current in found:
                raise AssertionError(f"{current} has two sections in {PAGE.name}.")
            found[current] = None
        elif line.startswith("#"):
            current = None
        elif current and found[current] is None and line.startswith("Default:"):
            found[current] = line
    return found


class SettingsPageTests(SimpleTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.documented = documented_settings(PAGE.read_text(encoding="utf-8"))

    def test_every_setting_is_documented(self):
        missing = sorted(set(DEFAULTS) - set(self.documented))
        self.assertEqual(
            missing, [], f"Add a '### `NAME`' section to {PAGE} for these."
        )

    def test_every_documented_setting_exists(self):
        unknown = sorted(set(self.documented) - set(DEFAULTS))
        self.assertEqual(
            unknown, [], f"{PAGE} documents settings sms.conf.DEFAULTS lacks."
        )

    def test_defaults_match(self):
        for name, line in self.documented.items():
            if name not in DEFAULTS:
                continue  # test_every_documented_setting_exists reports it
            with self.subTest(setting=name):
                self.assertIsNotNone(line, f"{name} has no 'Default:' line.")
                match = DEFAULT.match(line)
                self.assertIsNotNone(match, f"{name}: {line!r} has no `literal`.")
                self.assertEqual(ast.literal_eval(match.group(1)), DEFAULTS[name])

    def test_parser_sees_a_wrong_default(self):
        # The check above could pass vacuously if the parser matched nothing.
        text = "### `SMS_TIMEOUT`\n\nDefault: `11`\n\n### `X`\n\nDefault: `None`\n"
        found = documented_settings(text)
        self.assertEqual(set(found), {"SMS_TIMEOUT", "X"})
        value = ast.literal_eval(DEFAULT.match(found["SMS_TIMEOUT"]).group(1))
        self.assertNotEqual(value, DEFAULTS["SMS_TIMEOUT"])
