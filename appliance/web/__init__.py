"""Web room: the JSON API, admin and driver pages, auth, the error middleware."""
