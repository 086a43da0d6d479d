"""What drives the DAGs from outside Airflow's scheduler: pools from settings, runs under
``dag.test()``, and the scripted credit-ops user of the demo and the tests (not DAG files:
``.airflowignore`` keeps the DAG processor out of here)."""
