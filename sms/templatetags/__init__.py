"""Template tags of django-sms: ``{% load sms %}`` (needs ``sms`` in INSTALLED_APPS)."""
