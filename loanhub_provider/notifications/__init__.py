"""The hub's Airflow notifiers: what operations hear when a task fails or a run is late."""

from loanhub_provider.notifications.mail import LoanhubMailNotifier

__all__ = ["LoanhubMailNotifier"]
