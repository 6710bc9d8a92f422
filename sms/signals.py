"""Signals sent by django-sms."""

from django.dispatch import Signal

#: Sent after a message was handed to a delivering backend and accepted for
#: every recipient. Arguments: ``sender`` (the ``Message`` class) and
#: ``instance`` (the message).
post_send = Signal()
