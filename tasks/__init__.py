"""One reusable library of Prefect tasks per phase; each task is a thin @task over a plain function."""
