"""The formats both sides of an interface read: the core's LNREPAY copybook, the SOAP services'
WSDLs and the tax authority's file layout.

They are kept here, once, because the hub (``mappings``, ``connectors``) and the simulators
(``simulators``) each implement their side of the interface on their own, on purpose, from the
same contract text. Nothing here knows either side; ``contracts.copybook`` parses a copybook's
layout, which both the hub's decoder and the simulated core's encoder are built from.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
LNREPAY_COPYBOOK = HERE / "copybooks" / "LNREPAY.cpy"
WSDL_DIR = HERE / "wsdl"
