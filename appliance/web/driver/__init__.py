"""Drivers' phone pages: log in with phone or card and PIN, start from the QR code, follow the
session live, receipts and the driver's own records."""
