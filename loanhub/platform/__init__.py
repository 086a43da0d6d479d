"""The hub's services, which the flows use and no connector or bot sees: the store (``db``),
the work-item ledger and its once-only guard, the audit chain, file receipts, the quarantine,
stored facts, the call journal, consents, the blacklist and masking.
"""
