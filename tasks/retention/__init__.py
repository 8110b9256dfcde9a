"""Retention: how long the lake and the store keep what they hold, applied by one scheduled flow."""
