"""The loanhub Airflow provider: the hooks, connection types and triggers through which Airflow
reaches the legacy systems (with ``dags/``, the only place that imports Airflow)."""
