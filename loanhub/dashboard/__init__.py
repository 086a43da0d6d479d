"""The monitoring dashboard: runs, source health, queues, approvals, warnings and files, drawn
server-side from the hub's store (and Airflow's metadata DB for runs), behind its own login."""
