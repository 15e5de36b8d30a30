"""Stack components."""
