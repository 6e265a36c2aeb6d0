"""Web Push (RFC 8030) with VAPID (RFC 8292) and encrypted payloads (RFC 8291): tells a driver's
phone that charging ended, through the push service their browser chose."""
