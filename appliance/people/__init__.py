"""People room: staff logins and passwords, API tokens, drivers' logins and PINs."""
