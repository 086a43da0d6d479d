"""``python -m loanhub.audit_verify EXPORT.jsonl``: verify an export of the audit chain where
the hub is installed. The verifier itself is ``contracts/audit_export.py``, standard library
only: the contract between the hub that writes an export and whoever checks it (a copy of that
file is written beside every export, as ``verify_audit_export.py``)."""

from __future__ import annotations

import sys

from contracts.audit_export import main

if __name__ == "__main__":
    sys.exit(main())
