"""Deferrable waits: triggers that run on the triggerer's event loop with async protocol
clients, build no store and no hub, and hand a worker only what they saw."""
