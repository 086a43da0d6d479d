"""The simulators' own identifier generation (GB 11643 and GB 32100), independent of the hub's."""

from __future__ import annotations

import random
from datetime import date

_RID_CODES = "10X98765432"
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def resident_id(rng: random.Random, region: str, born: date) -> str:
    body = f"{region}{born:%Y%m%d}{rng.randrange(1000):03d}"
    total = sum(int(c) * (2 ** (17 - i) % 11) for i, c in enumerate(body))
    return body + _RID_CODES[total % 11]


def uscc(rng: random.Random, region: str) -> str:
    body = "91" + region + "".join(rng.choice(_USCC_CHARS) for _ in range(9))
    total = sum(_USCC_CHARS.index(c) * (3**i % 31) for i, c in enumerate(body))
    return body + _USCC_CHARS[(31 - total % 31) % 31]


def resident_id_ok(value: str) -> bool:
    """What the bureau checks before it looks anything up."""
    if len(value) != 18 or not value.isascii() or not value[:17].isdigit():
        return False
    total = sum(int(c) * (2 ** (17 - i) % 11) for i, c in enumerate(value[:17]))
    return value[17].upper() == _RID_CODES[total % 11]


def uscc_ok(value: str) -> bool:
    if len(value) != 18 or any(c not in _USCC_CHARS for c in value):
        return False
    total = sum(_USCC_CHARS.index(c) * (3**i % 31) for i, c in enumerate(value[:17]))
    return value[17] == _USCC_CHARS[(31 - total % 31) % 31]
