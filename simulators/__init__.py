"""Stand-ins for the bank's legacy systems, speaking their real protocols on loopback.

They import nothing of the hub: they are the other side of every interface, built from the
catalogue (``../shared/specs/legacy-systems.md``), so that a hub bug cannot hide in a shared
helper. Start them with ``python -m simulators up`` (or ``loanhub sim up``).
"""
