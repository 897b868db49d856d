"""Protobuf timestamps: the one clock every service stamps events and records with."""

from __future__ import annotations

import time

from google.protobuf.timestamp_pb2 import Timestamp


def now_timestamp() -> Timestamp:
    """The current wall-clock time as a protobuf `Timestamp` (nanosecond resolution)."""
    stamp = Timestamp()
    stamp.FromNanoseconds(time.time_ns())
    return stamp
