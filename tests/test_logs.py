"""The log formatters: context fields, colour only for terminals, the token redacted, JSON one object a line."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys

from bot.logs import ContextFilter, JsonFormatter, TextFormatter, context, log_context
from bot.models import Scope, Target

SECRET = "s3cr3t-token"


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("bot.test", logging.WARNING, __file__, 1, message, (), None)
    record.__dict__.update(extra)
    return record


def test_text_shows_context_and_colours_only_when_asked():
    record = _record("sent", **context(target=Target(Scope.GUILD, 5), subscription=[3, 1, 3], paper="2403.01234"))
    plain = TextFormatter().format(record)
    assert plain.endswith("WARNING  bot.test: sent [subscription=1,3 target=channel:5 paper=2403.01234]")
    assert "\x1b[" not in plain
    assert "\x1b[33;1mWARNING\x1b[0m" in TextFormatter(colour=True).format(record)


def test_the_token_is_redacted_in_text_json_and_tracebacks():
    try:
        raise RuntimeError(f"bad header Bot {SECRET}")
    except RuntimeError:
        record = _record(f"token {SECRET}", exc_info=sys.exc_info())
    for formatter in (TextFormatter(SECRET), JsonFormatter(SECRET)):
        out = formatter.format(record)
        assert SECRET not in out and "[token]" in out


async def test_log_context_follows_the_task_that_set_it():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("bot.test.context")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:

        async def deliver(target: Target) -> None:
            with log_context(target=target):
                await asyncio.sleep(0.01)  # the other task runs meanwhile with its own context
                logger.info("sent")

        with log_context(source="huggingface"):
            await asyncio.gather(deliver(Target(Scope.GUILD, 1)), deliver(Target(Scope.USER, 2)))
        logger.info("after", extra=context(paper=["b", "a"]))
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(e.get("source"), e.get("target"), e.get("paper")) for e in lines] == [
        ("huggingface", "channel:1", None),
        ("huggingface", "user:2", None),
        (None, None, ["a", "b"]),
    ]
