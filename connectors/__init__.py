"""Protocol clients for the legacy systems: SOAP (zeep), SFTP (paramiko), SMTP.

Like an Airflow provider's hook, a connector owns its connection and its protocol, and knows
nothing of Airflow: it takes a typed configuration object and the collaborators it needs
(masking, consent book, once-only guard, receipts) injected by the hub.
"""
