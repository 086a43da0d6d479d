"""The tax authority's batch file layout (legacy-systems.md, "Tax authority"), as both sides
read it: the hub writes requests and reads answers (``connectors.tax``), the simulated
authority reads requests and writes answers (``simulators.tax``), each with its own codec.

What they share is only the layout: names, encoding, line ending, columns and trailer tag.
"""

from __future__ import annotations

import re

ENCODING = "gb18030"
LINE_END = "\r\n"
FIELD_SEPARATOR = ","
TRAILER_TAG = "TRL|"  # request: TRL|<rows>; answer: TRL|<rows>|<sum of arrears_amount>
TRIGGER_SUFFIX = ".ok"

REQUEST_PREFIX = "TAXQ_"
ANSWER_PREFIX = "TAXR_"
REQUEST_NAME = re.compile(r"^TAXQ_(?P<bank>[A-Z0-9]{6})_(?P<date>\d{8})_(?P<seq>\d{3,6})\.csv$")

REQUEST_HEADER = ("request_id", "subject_type", "id_or_uscc", "name", "consent_ref")
ANSWER_HEADER = (
    "request_id",
    "status",
    "tax_credit_rating",
    "revenue_y1",
    "revenue_y2",
    "revenue_y3",
    "tax_paid_y1",
    "tax_paid_y2",
    "tax_paid_y3",
    "arrears_amount",
    "arrears_since",
    "penalty_count",
)


def answer_name(request: str) -> str:
    """The answer's file name for a request's: ``TAXQ_...`` becomes ``TAXR_...``."""
    return ANSWER_PREFIX + request.removeprefix(REQUEST_PREFIX)
