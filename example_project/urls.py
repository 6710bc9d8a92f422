"""URLs of the example project: the demo page at /, the admin at /admin/."""

from importlib.util import find_spec

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("example_project.demo.urls")),
]

# Delivery-report webhooks, when this version of sms_outbox ships them.
if find_spec("sms_outbox.urls") is not None:
    urlpatterns.insert(0, path("sms/", include("sms_outbox.urls")))
