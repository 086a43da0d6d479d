"""Development tools, never shipped in the wheel: the local Airflow cluster, the demo and its
report, the distributed run, scratch databases, synthetic data and the scripted humans (a
credit-ops user and an LOS checker) that answer in place of people. Nothing imports it.
"""
