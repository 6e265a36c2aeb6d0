"""Site load management: a pure allocation of a group's limit among its sessions
(`allocate.py`), the groups as staff set them (`groups.py`) and the loop that sends the
allocation to the chargers as charging profiles through `ChargerControl` (`loop.py`)."""
