"""One log, one format: every line (access, application, uvicorn's own) is a JSON object.

``JsonFormatter`` writes ``time``, ``level``, ``logger``, ``message``, the
request id of the request being served when there is one, the record's
``fields`` (a dict passed as ``extra={"fields": ...}``) and any traceback.
``logging_config`` is the one configuration, for ``logging.config.dictConfig``
and for uvicorn's ``log_config`` (which applies it again in every worker
process); uvicorn's plain access log is left out: ``api.access`` replaces it.
"""

from __future__ import annotations

import json
import logging
import logging.config
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from api.observability.request_context import current_request

ACCESS_LOGGER = "api.access"


class JsonFormatter(logging.Formatter):
    """A record as one JSON line, named after the request it was written for."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request = current_request()
        if request is not None:
            line["request_id"] = request.request_id
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """JSON lines on stderr from every logger; loggers made before it keep working."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            # uvicorn's own lines go to the root handler, in the same format.
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False},
        },
    }


@contextmanager
def json_logging(config: dict[str, Any]) -> Iterator[None]:
    """``config`` applied for the life of ``serve``; the root logger is put back after,
    so a caller in the same process (a test running the CLI) is left as it was."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    logging.config.dictConfig(config)
    try:
        yield
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
