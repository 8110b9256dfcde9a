"""Experiments: A/B/n variants with an always-valid sequential decision, and holdouts that measure lift."""
