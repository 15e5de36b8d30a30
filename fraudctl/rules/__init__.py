"""Operator rules from the terminal: stored on the compacted topic, dry-run on data."""
