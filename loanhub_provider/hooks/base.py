"""What every loanhub hook shares: the connection read at call time, its extra fields, and the
secrets handed to Airflow's masker before anything can log them."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlsplit

from airflow.sdk import BaseHook, Connection
from airflow.sdk.log import mask_secret


class LoanhubHook(BaseHook):
    """A hook bound to one connection id, read when first needed (never at DAG parse time)."""

    conn_name_attr: ClassVar[str] = "conn_id"
    default_conn_name: ClassVar[str]
    conn_type: ClassVar[str]
    hook_name: ClassVar[str]

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id or self.default_conn_name
        self._conn: Connection | None = None

    @property
    def connection(self) -> Connection:
        if self._conn is None:
            self._conn = self.get_connection(self.conn_id)
        return self._conn

    def field(self, name: str, default: Any = None) -> Any:
        """An extra field, as the JSON gives it (``name``) or as an older form saved it
        (``extra__<type>__<name>``)."""
        extra = self.connection.extra_dejson
        conn_type = self.connection.conn_type or self.conn_type
        value = extra.get(name, extra.get(f"extra__{conn_type}__{name}"))
        return default if value in (None, "") else value

    def required(self, value: Any, what: str) -> Any:
        if value in (None, ""):
            raise ValueError(f"connection {self.conn_id!r} has no {what}")
        return value

    def url(self, what: str) -> str:
        """The connection's host, a URL, checked against its port field: the UI's form shows the
        port (and sends it to "Test"), so a port that is given must be the URL's own port
        (its scheme's default when the URL names none); no port given is fine."""
        url = str(self.required(self.connection.host, what))
        port = self.connection.port
        if port not in (None, "", 0):
            parts = urlsplit(url)
            try:
                own = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
            except ValueError:
                own = None
            if int(port) != own:
                raise ValueError(
                    f"connection {self.conn_id!r}: port {port} is not the port of {url} ({own})"
                )
        return url

    @staticmethod
    def secret(value: str | None, name: str | None = None) -> str | None:
        """Register ``value`` with Airflow's masker (task process and supervisor) and return it."""
        if value:
            mask_secret(value, name)
        return value
