"""The hub's identifier rules (GB 11643 resident IDs, GB 32100 USCCs, Luhn card numbers).

They are implemented once, in the canonical model (``schemas.identifiers``), which validates
every party; this module is the name the hub's use cases and CLI know them by.
"""

from schemas.identifiers import (
    InvalidIdentifier,
    luhn_ok,
    resident_id_birth_date,
    resident_id_check_char,
    uscc_check_char,
    validate_resident_id,
    validate_uscc,
)

__all__ = [
    "InvalidIdentifier",
    "luhn_ok",
    "resident_id_birth_date",
    "resident_id_check_char",
    "uscc_check_char",
    "validate_resident_id",
    "validate_uscc",
]
