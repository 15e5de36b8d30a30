"""Alerts as every reader sees them: the stream contract, readers with their own position,
labels, detection quality and pipeline health. Importable without Textual or FastAPI."""

from fraudctl.alerts.health import ComponentHealth, HealthProber, PipelineHealth, RateMeter
from fraudctl.alerts.labels import LabelStore, Verdict, is_fraud_label
from fraudctl.alerts.model import (
    Alert,
    AlertParseError,
    Reason,
    alert_fields,
    parse_alert_fields,
    parse_alert_json,
)
from fraudctl.alerts.quality import DetectionQuality, QualityTracker, detection_quality
from fraudctl.alerts.stream import (
    AlertStreamReader,
    AsyncAlertStreamReader,
    StreamEntry,
    check_stream_id,
)

__all__ = [
    "Alert",
    "AlertParseError",
    "AlertStreamReader",
    "AsyncAlertStreamReader",
    "ComponentHealth",
    "DetectionQuality",
    "HealthProber",
    "LabelStore",
    "PipelineHealth",
    "QualityTracker",
    "RateMeter",
    "Reason",
    "StreamEntry",
    "Verdict",
    "alert_fields",
    "check_stream_id",
    "detection_quality",
    "is_fraud_label",
    "parse_alert_fields",
    "parse_alert_json",
]
