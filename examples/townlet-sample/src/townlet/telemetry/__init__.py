"""Telemetry: schema-0.9.7 payloads (snapshot, then diffs) and the buffered worker."""

from townlet.telemetry.payload import (
    RUNTIME_VARIANT,
    SCHEMA_VERSION,
    TelemetryPublisher,
    apply_payload,
    build_state,
    diff_payload,
    encode,
    snapshot_payload,
)
from townlet.telemetry.worker import TelemetryWorker

__all__ = [
    "RUNTIME_VARIANT",
    "SCHEMA_VERSION",
    "TelemetryPublisher",
    "TelemetryWorker",
    "apply_payload",
    "build_state",
    "diff_payload",
    "encode",
    "snapshot_payload",
]
