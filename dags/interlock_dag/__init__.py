"""DAG helpers: the training pipeline's steps, importable by the DAGs in this folder.

Depends on Airflow's Python only where a module says so, and never on the `interlock` package,
which is not installed where DAGs run (the local Airflow venv, Cloud Composer).
"""
