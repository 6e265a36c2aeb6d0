"""Charging room: stations, connectors and sessions from the chargers' reports, and the
`ChargerControl` port through which pages and the API command chargers."""
