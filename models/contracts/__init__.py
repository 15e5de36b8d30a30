"""Every record that crosses a process boundary, defined once: see docs/contracts.md.

One module per contract (transaction, decision, alert, reason, label) plus the small
encodings they share (card numbers, timestamps). Producers and consumers both import
from here, so a field cannot be renamed on one side only. Imports nothing outside `models`.
"""
