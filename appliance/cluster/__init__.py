"""Many processes on one PostgreSQL (issue 22): leases on chargers' sockets, commands and live
events between processes by LISTEN/NOTIFY, and the leader that runs once-per-installation work."""
