"""The use cases of the credit lifecycle: intake, harvest, profile, decide, disburse,
repayments, warnings, post-loan, and the rule sets (``rule_sets/*.yaml``).

This is the one layer that decides policy: send only with consent, once per business key,
reuse a bureau report for 30 days, record every file's receipt, settle what is in doubt by
reading the legacy system. Connectors and bots below it only speak their protocols.
"""
