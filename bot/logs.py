"""Logging: one set-up for the CLI, and the context every line about a poll or a delivery carries.

Code about a poll or a delivery runs inside ``log_context(...)`` (source, subscription or alert ids, target,
paper ids): every line logged meanwhile — by our code, a source's parser or the store, in that asyncio task —
carries those fields, which the formatters show after the message (text) or as keys (JSON, one object per line
for log shippers). A single call can add more with ``extra=context(...)``.

Colour is used only when the stream is a terminal — discord.py's own default also colours whenever it detects
Docker, which puts escape sequences on every line of ``docker logs`` and log files.
The bot token is replaced by ``[token]`` wherever it would appear.

No Discord import at module level: Discord-free code may use :func:`log_context` too.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

#: The context fields, in the order they are shown.
CONTEXT_FIELDS = ("source", "subscription", "target", "paper")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FORMATS = ("text", "json")
_COLOURS = {"DEBUG": "\x1b[40;1m", "INFO": "\x1b[34;1m", "WARNING": "\x1b[33;1m", "ERROR": "\x1b[31m"}
_RESET = "\x1b[0m"


def context(
    *,
    source: str | None = None,
    subscription: int | Iterable[int] | None = None,
    target: object | None = None,
    paper: str | Iterable[str] | None = None,
) -> dict[str, Any]:
    """``extra=`` for a log call: the fields given, lists of ids kept as lists (sorted, de-duplicated)."""
    fields: dict[str, Any] = {}
    for name, value in (("source", source), ("subscription", subscription), ("target", target), ("paper", paper)):
        if value is None:
            continue
        if isinstance(value, str | int):
            fields[name] = value
        elif isinstance(value, Iterable):
            fields[name] = sorted(set(value))
        else:
            fields[name] = str(value)
    return fields


_CURRENT: ContextVar[dict[str, Any]] = ContextVar("paperbot_log_context", default={})  # noqa: B039 (never mutated)


@contextmanager
def log_context(
    *,
    source: str | None = None,
    subscription: int | Iterable[int] | None = None,
    target: object | None = None,
    paper: str | Iterable[str] | None = None,
) -> Iterator[None]:
    """Within this block (and the tasks it starts), every log line carries these fields as well."""
    fields = context(source=source, subscription=subscription, target=target, paper=paper)
    token = _CURRENT.set({**_CURRENT.get(), **fields})
    try:
        yield
    finally:
        _CURRENT.reset(token)


class ContextFilter(logging.Filter):
    """Adds the current :func:`log_context` fields to each record (a call's own ``extra`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _CURRENT.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in CONTEXT_FIELDS if hasattr(record, name)}


def _shown(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


class _Redacting(logging.Formatter):
    """Replaces the secret (the bot token) in every formatted line."""

    def __init__(self, secret: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.secret = secret or None

    def redact(self, text: str) -> str:
        return text.replace(self.secret, "[token]") if self.secret else text


class TextFormatter(_Redacting):
    """``2026-12-01 09:00:00 INFO     bot.engine: huggingface: 12 listed … [source=huggingface]``."""

    def __init__(self, secret: str | None = None, *, colour: bool = False) -> None:
        super().__init__(
            secret, fmt="{asctime} {levelname:<8} {name}: {message}", datefmt="%Y-%m-%d %H:%M:%S", style="{"
        )
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if fields := _fields(record):
            head, newline, rest = text.partition("\n")  # keep a traceback below the context
            text = head + " [" + " ".join(f"{k}={_shown(v)}" for k, v in fields.items()) + "]" + newline + rest
        if self.colour:
            colour = _COLOURS.get(record.levelname, "")
            text = text.replace(record.levelname, f"{colour}{record.levelname}{_RESET}", 1)
        return self.redact(text)


class JsonFormatter(_Redacting):
    """One JSON object per line: time, level, logger, message, the context fields, and ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self.redact(json.dumps(entry, ensure_ascii=False, default=str))


def configure(
    level: str = "INFO", fmt: str = "text", *, secret: str | None = None, stream: TextIO | None = None
) -> None:
    """Set up the root logger with ``discord.utils.setup_logging``, our formatter, and quiet APScheduler."""
    import discord  # here, not at the top: the engine imports this module for ``context``

    out = stream or sys.stderr
    handler = logging.StreamHandler(out)
    handler.addFilter(ContextFilter())
    formatter: logging.Formatter = (
        JsonFormatter(secret) if fmt == "json" else TextFormatter(secret, colour=out.isatty())
    )
    discord.utils.setup_logging(handler=handler, formatter=formatter, level=getattr(logging, level))
    # APScheduler logs every job run at INFO; keep its warnings and errors.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, getattr(logging, level)))
