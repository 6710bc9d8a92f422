"""sms.__version__: the installed version, or the checkout's, sorting after 0.7.0."""

import re
from importlib import metadata
from unittest import mock

from django.test import SimpleTestCase
from packaging.version import Version

import sms
from tests.support.processes import ROOT


def pyproject_version():
    text = (ROOT / "pyproject.toml").read_text()
    return re.search(r'^version = "([^"]+)"', text, re.MULTILINE).group(1)


class VersionTests(SimpleTestCase):
    def test_sorts_after_the_published_0_7_0(self):
        self.assertGreater(Version(pyproject_version()), Version("0.7.0"))
        self.assertGreater(Version(sms.__version__), Version("0.7.0"))

    def test_is_the_installed_metadata_version(self):
        try:
            installed = metadata.version("django-sms")
        except metadata.PackageNotFoundError:
            self.skipTest("django-sms is not installed")
        self.assertEqual(sms.__version__, installed)

    def test_checkout_without_install_reads_pyproject(self):
        missing = metadata.PackageNotFoundError("django-sms")
        with mock.patch.object(sms.metadata, "version", side_effect=missing):
            self.assertEqual(sms._read_version(), pyproject_version())

    def test_neither_installed_nor_in_a_checkout(self):
        missing = metadata.PackageNotFoundError("django-sms")
        with (
            mock.patch.object(sms.metadata, "version", side_effect=missing),
            mock.patch.object(sms, "__file__", "/nonexistent/sms/__init__.py"),
        ):
            self.assertEqual(sms._read_version(), "0+unknown")
        self.assertLess(Version("0+unknown"), Version("0.7.0"))
