"""AICMO: a campaign data pipeline on Prefect, Polars and SQLAlchemy.

The top-level package holds settings, the CLI and logging; the phases live in
``aicmo.tasks``, orchestration in ``aicmo.flows``, data shapes in ``aicmo.models``
and every byte on disk in ``aicmo.storage``.
"""

__version__ = "0.1.0"
