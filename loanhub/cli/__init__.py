"""The ``loanhub`` command line: what integration engineers and operators run by hand.

One module per command group (``db``, ``audit``, ``identifiers`` for ``id``, ``sim``,
``mapping``, ``extract``, ``blacklist``, ``evidence``, ``bot``, ``airflow_runs`` for
``harvest`` and ``reviews``, ``pools`` for ``airflow-pools``, ``dashboard`` for ``dashboard``
and ``dashboard-user``, ``endpoints``, ``calls``), what they share in ``common``, the one
error handler in ``errors``, and the root ``app`` assembled in ``root``: ``loanhub.cli:app``
is the ``loanhub`` entry point.
"""

import sys

try:  # the import takes a second or two: Ctrl-C then is one line too, not an import trace
    from loanhub.cli.root import app
except KeyboardInterrupt:  # pragma: no cover - timing; exercised by hand (docs: README)
    print("interrupted (Ctrl-C) while starting: nothing was done", file=sys.stderr)
    sys.exit(130)

__all__ = ["app"]
