"""Delivery receipts: verify, parse and record the providers' status callbacks."""
