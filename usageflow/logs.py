"""Log output: plain text for people, JSON lines (`USAGEFLOW_LOG_FORMAT=json`) for collectors."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any `extra=` fields (dicts
    and lists as JSON, other objects as their repr)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = _plain(value)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=repr)  # objects inside a dict or list


def _plain(value: Any) -> Any:
    """`value` if JSON can carry it (objects inside a dict or list become their repr), else its repr."""
    if isinstance(value, str | int | float | bool | None):
        return value
    if isinstance(value, dict | list):
        try:
            json.dumps(value, default=repr)
            return value
        except (TypeError, ValueError):  # keys JSON cannot have, or a cycle
            pass
    return repr(value)


def logging_config(level: str, fmt: str) -> dict[str, Any]:
    """A dictConfig for the worker (Faust applies it to the root logger)."""
    formatter: dict[str, Any] = (
        {"()": JsonFormatter}
        if fmt == "json"
        else {"format": "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {"usageflow.librdkafka": {"level": "WARNING"}},
    }
