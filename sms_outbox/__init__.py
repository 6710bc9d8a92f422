"""A database-backed outbox for django-sms: queue in one INSERT, deliver later."""
