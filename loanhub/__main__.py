"""``python -m loanhub``: the same CLI as the ``loanhub`` command."""

from loanhub.cli import app

app()
