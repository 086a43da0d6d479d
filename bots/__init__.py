"""Playwright bots that do what a clerk does in a legacy browser application.

One browser per worker process, one context per logged-in session reused across lookups, one
page object per screen. Failures are sorted into the hub's kinds (``kernel.failures``); a
screen the bot does not recognise stops it with masked evidence for a person.
"""
