"""Alerts as every reader sees them: the stream contract, readers with their own position,
labels, detection quality and pipeline health. Importable without Textual or FastAPI."""

from foundation.alert_stream import (
    AlertStreamReader,
    AsyncAlertStreamReader,
    StreamEntry,
    check_stream_id,
)
from fraudctl.alerts.health import ComponentHealth, HealthProber, PipelineHealth, RateMeter
from fraudctl.alerts.labels import LabelStore, Verdict, is_fraud_label
from fraudctl.alerts.quality import DetectionQuality, QualityTracker, detection_quality
from models.contracts.alert import (
    Alert,
    AlertParseError,
    alert_fields,
    parse_alert_fields,
    parse_alert_json,
)
from models.contracts.reason import Reason

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
