"""The small vocabulary every layer speaks: how a call to a legacy system failed
(``kernel.failures``: transient, business answer, contract, outcome unknown, needs a person;
the retry policy) and how it is observed (``kernel.calls``). It imports nothing of the hub.
"""
