"""Webhook URLs: ``path("sms/", include("sms_outbox.urls"))``."""

from django.urls import path

from sms_outbox.webhooks import aws, messagebird, twilio, vonage

app_name = "sms_outbox"

urlpatterns = [
    # Delivery receipts.
    path(
        "receipts/twilio/",
        twilio.twilio_status_callback,
        name="twilio_status_callback",
    ),
    path(
        "receipts/vonage/",
        vonage.vonage_delivery_receipt,
        name="vonage_delivery_receipt",
    ),
    path(
        "receipts/messagebird/",
        messagebird.messagebird_status_report,
        name="messagebird_status_report",
    ),
    # Inbound SMS (replies, STOP/START/HELP).
    path("inbound/twilio/", twilio.twilio_inbound, name="twilio_inbound"),
    path(
        "inbound/messagebird/",
        messagebird.messagebird_inbound,
        name="messagebird_inbound",
    ),
    path("inbound/vonage/", vonage.vonage_inbound, name="vonage_inbound"),
    path("inbound/aws/", aws.aws_inbound, name="aws_inbound"),
    # The same, per SMS_PROVIDERS alias: each account's webhooks are verified
    # with its own secret and matched to the rows it sent.
    path(
        "receipts/twilio/<str:alias>/",
        twilio.twilio_status_callback,
        name="twilio_status_callback",
    ),
    path(
        "receipts/vonage/<str:alias>/",
        vonage.vonage_delivery_receipt,
        name="vonage_delivery_receipt",
    ),
    path(
        "receipts/messagebird/<str:alias>/",
        messagebird.messagebird_status_report,
        name="messagebird_status_report",
    ),
    path("inbound/twilio/<str:alias>/", twilio.twilio_inbound, name="twilio_inbound"),
    path(
        "inbound/messagebird/<str:alias>/",
        messagebird.messagebird_inbound,
        name="messagebird_inbound",
    ),
    path("inbound/vonage/<str:alias>/", vonage.vonage_inbound, name="vonage_inbound"),
]
