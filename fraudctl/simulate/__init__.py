"""`fraudctl simulate`: labelled Faker traffic on an open-loop schedule, with live
throughput, latency, errors and detection quality (precision/recall from real alerts)."""

from fraudctl.simulate.options import OptionError, SimulateOptions, build_options
from fraudctl.simulate.runner import GatewayUnreachable, Simulation
from fraudctl.simulate.summary import Summary

__all__ = [
    "GatewayUnreachable",
    "OptionError",
    "SimulateOptions",
    "Simulation",
    "Summary",
    "build_options",
]
