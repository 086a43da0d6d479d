"""Protocol clients for the legacy systems: SOAP (zeep), SFTP (paramiko), SMTP, ISO 20022,
and Airflow's REST API.

Like an Airflow provider's hook, a connector owns its connection and its protocol, and knows
nothing of Airflow's runtime: it takes a typed configuration object and the collaborators a
protocol needs (masking, the raw evidence store, the call observer). It holds no store, no
ledger, no consent book and no receipts: whether to call, and how often, is the flows'.
"""
