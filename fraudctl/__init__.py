"""fraudctl."""
