"""The node's logs: one JSON object per line, and nothing a client wrote in them.

A request's path and query are the client's free text: a purpose refused because it held an ID
number, a license identifier typed as an ID number, a body quoted in an error. So, by
construction rather than by screening:

- the access log (logger ``tongban.access``, one line per request, written by
  :class:`AccessLog`) names the **route template** (``/cases/{case_id}``), never the path or
  the query string, the method only if it is a standard one, then the status and the duration;
- a logged exception is its type and its stack (file, line, function), never its message or
  arguments: a message may quote a value (h11 quotes a bad request line, a driver the row);
- ``tongban serve`` turns uvicorn's own access log off (it prints path and query) and httpx's
  request log (every outgoing URL), and sends every other record, uvicorn's included, through
  :class:`JsonFormatter` (:func:`log_config`).

Fields of every line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``; access
lines add ``method``, ``route`` (null when no route matched), ``status``, ``duration_ms``.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS_LOGGER: Final = "tongban.access"
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

access_log = logging.getLogger(ACCESS_LOGGER)


def route_template(scope: Scope) -> str | None:
    """The template of the route that matched (``/cases/{case_id}``), or None."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else None


def logged_method(scope: Scope) -> str:
    """The request method if it is a standard one, else ``OTHER`` (any token is a method)."""
    method = scope.get("method", "")
    return method if method in _METHODS else "OTHER"


class AccessLog:
    """Pure ASGI middleware: one ``tongban.access`` line per HTTP request, once it ended."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before it answered

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            access_log.info(
                "request",
                extra={
                    "fields": {
                        "method": logged_method(scope),
                        # Set by the router on the scope it was given, which is this one.
                        "route": route_template(scope),
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    }
                },
            )


def _stack(tb: TracebackType | None) -> list[str]:
    return [
        f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in traceback.extract_tb(tb)
    ]


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON; an exception as its type and stack, never its message."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            kind, _, tb = record.exc_info
            entry["exception"] = {"type": kind.__name__, "stack": _stack(tb)}
            # Causes by type only: a driver error is often the cause of the one logged.
            causes: list[str] = []
            error: BaseException | None = record.exc_info[1]
            while error is not None and len(causes) < 8:
                error = error.__cause__ or error.__context__
                if error is not None:
                    causes.append(type(error).__name__)
            if causes:
                entry["exception"]["causes"] = causes
        if record.stack_info:
            entry["stack_info"] = "omitted"  # may show values in its frames' source lines
        return json.dumps(entry, ensure_ascii=False, default=str)


def log_config(level: str = "INFO") -> dict[str, Any]:
    """``logging.config.dictConfig`` input for ``tongban serve``: every record as JSON on
    stderr, uvicorn's access log (path and query string) off."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            # httpx logs every outgoing URL at INFO; the node builds some (a peer's license,
            # status list) from what a client sent.
            "httpx": {"handlers": [], "level": "WARNING", "propagate": True},
            "httpcore": {"handlers": [], "level": "WARNING", "propagate": True},
        },
        "root": {"handlers": ["stderr"], "level": level},
    }
