"""Typed messages that workers post to the app; workers never touch widgets."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from foundation.alert_stream import StreamEntry
from fraudctl.alerts.health import PipelineHealth
from fraudctl.alerts.labels import Verdict


@dataclass
class AlertsArrived(Message):
    """New alerts from the stream, oldest first (backfill or live)."""

    entries: list[StreamEntry]
    backfill: bool = False


@dataclass
class StreamConnection(Message):
    """The alert stream's connection went up or down."""

    connected: bool
    detail: str = ""


@dataclass
class HealthChecked(Message):
    health: PipelineHealth


@dataclass
class LabelsLoaded(Message):
    """Labels (transaction_id -> label) for alerts the console holds."""

    labels: dict[str, str]


@dataclass
class LabelSaved(Message):
    transaction_id: str
    verdict: Verdict


@dataclass
class LabelFailed(Message):
    transaction_id: str
    error: str
