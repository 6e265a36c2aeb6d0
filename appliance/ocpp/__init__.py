"""OCPP room: the WebSocket endpoint, our routing over the `ocpp` library, one handler module
per OCPP version, the hub of connected chargers (implementing `ChargerControl`)."""
