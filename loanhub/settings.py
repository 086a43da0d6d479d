"""Typed settings of the hub, filled from the environment (``LOANHUB_*``) at run time.

Nothing reads the environment anywhere else: a component receives the settings object it
needs, so a test or a DAG can build one explicitly.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class HubSettings(BaseSettings):
    """Where the hub keeps its store and how its ledger behaves."""

    model_config = SettingsConfigDict(env_prefix="LOANHUB_", extra="ignore")

    data_dir: Path = Field(
        default=Path("var"), description="embedded store, kept files and evidence live here"
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the store; unset means the embedded SQLite file",
    )
    work_item_lease_seconds: int = Field(
        default=900,
        ge=1,
        description="an IN_PROGRESS item older than this is presumed abandoned and put IN_DOUBT",
    )
    actor: str = Field(default="loanhub", description="who the audit chain names by default")

    @property
    def store_url(self) -> str:
        """The store's URL: the configured one, or SQLite under ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'loanhub.db').resolve()}"
