"""Paid ads (phase 2): report importers, platform adapters, pacing, allocation, bids, cost and ROI."""
