"""The foundation every process stands on: settings and the clients and helpers they share.

`gateway/`, `flink_job/` and `fraudctl/` all import it; it imports only the domain (`models/`).
"""
