"""CLI command groups, one module per area; ``aicmo.cli`` registers them."""
