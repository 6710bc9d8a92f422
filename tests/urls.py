"""URLs for the test suite."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [path("admin/", admin.site.urls)]
# The example project's demo page at / (tests/example).
urlpatterns.append(path("", include("example_project.demo.urls")))
# Delivery receipt webhooks (tests/receipts).
urlpatterns.append(path("sms/", include("sms_outbox.urls")))
