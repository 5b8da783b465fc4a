"""Discord's official API specification in the test suite (imported by tests/conftest.py).

Every Discord emulator a test creates checks each REST request the bot sends against
``../shared/discord-api-spec/openapi.json`` (loaded and compiled once per session). A test during which a
request broke the specification fails at teardown, with the request and the schema error. A test that breaks
it on purpose (an emulator self-test of Discord's own 400s) takes the ``spec_violations`` fixture and
``take()``s what it expects. Without ``../shared`` nothing is checked, and the session summary says so.
"""

from __future__ import annotations

import gc
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.devtools.emulator import openapi
from bot.devtools.emulator.openapi import DiscordSpec, SpecViolation

SPEC_PATH = Path(__file__).resolve().parents[1] / ".." / "shared" / "discord-api-spec" / "openapi.json"


class SpecViolations:
    """What the emulators found during the current test, and what the session has seen."""

    def __init__(self) -> None:
        self.spec: DiscordSpec | None = None
        self.unavailable: str | None = None
        self.load_seconds = 0.0
        self.current: list[SpecViolation] = []
        self._loaded = False

    def load(self) -> None:
        """Load the specification once, and make every emulator created from now on check against it."""
        if self._loaded:
            return
        self._loaded = True
        started = time.perf_counter()
        try:
            self.spec = DiscordSpec.load(SPEC_PATH)
        except (OSError, ValueError) as exc:
            self.unavailable = f"{SPEC_PATH.resolve()} not usable ({exc.__class__.__name__}: {exc})"
            return
        self.load_seconds = time.perf_counter() - started
        openapi.use_by_default(self.spec, self.current.extend)
        # The specification (and every module imported so far) lives for the session: keep it out of the
        # collector's full passes. Walking it cost each full pass ~50-200 ms on a loaded machine, a stall of the
        # emulator's event loop after which it admits the requests that waited in a burst (test_cluster.py).
        gc.freeze()

    def excuse(self, method: str, path_pattern: str) -> list[SpecViolation]:
        """Take the violations of requests with this method whose path fully matches the regex (a test that
        breaks the specification on purpose); the others still fail the test."""
        rx = re.compile(path_pattern)
        excused = [v for v in self.current if v.method == method and rx.fullmatch(v.path)]
        self.current[:] = [v for v in self.current if v not in excused]
        return excused

    def take(self) -> list[SpecViolation]:
        """The violations found so far in this test; they no longer fail it."""
        taken = list(self.current)
        self.current.clear()
        return taken


_SESSION = SpecViolations()


@pytest.fixture(autouse=True)
def spec_violations() -> Iterator[SpecViolations]:
    """Fail the test if any request it caused broke Discord's API specification."""
    _SESSION.load()
    _SESSION.current.clear()
    yield _SESSION
    found = _SESSION.take()
    if found:
        listed = "\n".join(f"  - {v}" for v in found)
        pytest.fail(
            f"{len(found)} request(s) broke Discord's API specification ({SPEC_PATH.name}; deliberate exceptions: "
            f"bot/devtools/emulator/openapi.py EXEMPTIONS):\n{listed}",
            pytrace=False,
        )


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a pytest-xdist worker: hand this worker's figures to the controller, which prints the summary."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        spec = _SESSION.spec
        workeroutput["discord_spec"] = {
            "unavailable": _SESSION.unavailable,
            "checked": spec.checked if spec is not None else 0,
            "seconds": spec.seconds if spec is not None else 0.0,
            "load_seconds": _SESSION.load_seconds,
        }


_WORKERS: list[dict[str, Any]] = []


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """In the pytest-xdist controller: collect a finished worker's figures."""
    figures = getattr(node, "workeroutput", {}).get("discord_spec")
    if figures is not None:
        _WORKERS.append(figures)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say whether requests were checked against the specification, so a skipped check is never silent."""
    if _WORKERS:  # the controller of a pytest-xdist run: the workers' figures, summed
        unavailable = next((w["unavailable"] for w in _WORKERS if w["unavailable"] is not None), None)
        checked, seconds = sum(w["checked"] for w in _WORKERS), sum(w["seconds"] for w in _WORKERS)
        load_seconds = max(w["load_seconds"] for w in _WORKERS)
        loaded = unavailable is None and any(w["load_seconds"] for w in _WORKERS)
    else:
        unavailable, load_seconds, loaded = _SESSION.unavailable, _SESSION.load_seconds, _SESSION.spec is not None
        checked = _SESSION.spec.checked if _SESSION.spec is not None else 0
        seconds = _SESSION.spec.seconds if _SESSION.spec is not None else 0.0
    if unavailable is not None:
        terminalreporter.write_sep("-", "Discord API specification NOT checked", yellow=True, bold=True)
        terminalreporter.write_line(f"requests to the emulator were not validated: {unavailable}")
    elif loaded:
        terminalreporter.write_line(
            f"Discord API specification: {checked} requests checked against {SPEC_PATH.name} in "
            f"{seconds:.2f} s (loading it: {load_seconds:.2f} s)"
        )
