"""The data's shapes: SQL tables, boundary schemas and Parquet lake schemas, each written once."""

# Every phase's tables register on the one Base when the package is imported, so
# ``Base.metadata`` (Alembic, create_all) always sees the whole store.
from aicmo.models import ads, analytics, backfill, crm, experiments, gateway, media, publishing, runs

__all__ = ["ads", "analytics", "backfill", "crm", "experiments", "gateway", "media", "publishing", "runs"]
