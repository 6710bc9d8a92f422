"""Webhook URLs: ``path("sms/", include("sms_outbox.urls"))``."""

from django.urls import path

from sms_outbox import views
from sms_outbox.webhooks.inbound_aws import aws_inbound
from sms_outbox.webhooks.inbound_messagebird import messagebird_inbound
from sms_outbox.webhooks.inbound_twilio import twilio_inbound
from sms_outbox.webhooks.inbound_vonage import vonage_inbound

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
    # Inbound SMS (replies, STOP/START/HELP).
    path("inbound/twilio/", twilio_inbound, name="twilio_inbound"),
    path("inbound/messagebird/", messagebird_inbound, name="messagebird_inbound"),
    path("inbound/vonage/", vonage_inbound, name="vonage_inbound"),
    path("inbound/aws/", aws_inbound, name="aws_inbound"),
]
