"""URLs for delivery receipts: ``path("sms/", include("sms_outbox.urls"))``."""

from django.urls import path

from sms_outbox import views

app_name = "sms_outbox"

urlpatterns = [
    path(
        "receipts/twilio/",
        views.twilio_status_callback,
        name="twilio_status_callback",
    ),
    path(
        "receipts/vonage/",
        views.vonage_delivery_receipt,
        name="vonage_delivery_receipt",
    ),
    path(
        "receipts/messagebird/",
        views.messagebird_status_report,
        name="messagebird_status_report",
    ),
]
