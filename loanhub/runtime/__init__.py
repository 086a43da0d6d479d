"""How the hub runs: typed settings from the environment (``settings``), the connectors and
bots built from them (``wiring``), and the task functions the DAGs call (``tasks``): ids and
counts in and out, never payloads.
"""
