"""Staff pages: the dashboard, chargers, drivers, cards, sessions, tariffs, settings, staff,
audit, reports, the card desk and the QR stickers."""
