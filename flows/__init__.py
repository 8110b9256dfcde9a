"""Prefect flows: orchestration only (pick the work, call tasks, write artifacts)."""
