"""One router per resource: transactions, health, metrics."""
