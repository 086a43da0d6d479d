"""The ``loanhub`` command line: what integration engineers and operators run by hand.

One module per command group (``db``, ``audit``, ``identifiers`` for ``id``, ``sim``,
``mapping``, ``extract``, ``blacklist``, ``evidence``, ``bot``, ``airflow_runs`` for
``harvest`` and ``reviews``, ``pools`` for ``airflow-pools``, ``dashboard`` for ``dashboard``
and ``dashboard-user``, ``endpoints``, ``calls``), what they share in ``common``, and the
root ``app`` assembled in ``root``: ``loanhub.cli:app`` is the ``loanhub`` entry point.
"""

from loanhub.cli.root import app

__all__ = ["app"]
