"""A Faust monitor without per-event bookkeeping.

Faust's default Monitor records timing for every message and stream event: a measured ~20% of
the worker's time when the events reached the agent one by one. They now arrive one message per
batch (streams/source.py), so little is left to save, but usageflow exports its own per-batch
metrics (`usageflow.streams.metrics`) and keeps the per-event hooks no-ops; commit and send statistics
are kept.
"""

from __future__ import annotations

from typing import Any

from faust.sensors import Monitor


class BatchMonitor(Monitor):
    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> Any:
        return None

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None) -> None:
        return None

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        return None
