"""Base classes of the canonical model: strict pydantic models, and lineage for stored facts."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from schemas.types import Sha256Hex, UtcDateTime


class CanonicalModel(BaseModel):
    """Every canonical model refuses unknown fields: a mapping that invents one is a bug."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=False)


class Lineage(CanonicalModel):
    """Where a stored fact came from, so that any number on a screen can be traced to its source.

    ``mapping_version`` is the hash of the mapping file that produced the fact;
    ``raw_payload_hash`` the SHA-256 of the raw bytes as received (kept as evidence).
    """

    source_system: str = Field(max_length=32)
    fetched_at: UtcDateTime
    mapping_version: str = Field(max_length=64)
    raw_payload_hash: Sha256Hex


class Fact(CanonicalModel):
    """A stored fact about a party or a loan: carries its lineage."""

    lineage: Lineage
