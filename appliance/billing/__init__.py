"""Billing room: authorization decisions, drivers' accounts, the ledger, tariffs and prices."""
