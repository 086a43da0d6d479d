"""loanhub: the integration hub itself.

- ``loanhub.platform``: the hub's services (store, work-item ledger, audit chain, receipts,
  quarantine, facts, call journal, consents, blacklist, masking);
- ``loanhub.flows``: the use cases, the only place that decides "once", "with consent",
  "reuse for 30 days", "record the receipt";
- ``loanhub.runtime``: settings, wiring, and the task functions the DAGs call;
- ``loanhub.cli`` and ``loanhub.dashboard``: the hub's interfaces to people.

Importing the package is free of side effects and heavy imports.
"""
