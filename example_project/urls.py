"""URLs of the example project: the demo page, the admin, delivery-report webhooks."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # Twilio and MessageBird post delivery reports here (docs/receipts.md).
    path("sms/", include("sms_outbox.urls")),
    path("", include("example_project.demo.urls")),
]
