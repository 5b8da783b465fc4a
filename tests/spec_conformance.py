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


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say whether requests were checked against the specification, so a skipped check is never silent."""
    if _SESSION.unavailable is not None:
        terminalreporter.write_sep("-", "Discord API specification NOT checked", yellow=True, bold=True)
        terminalreporter.write_line(f"requests to the emulator were not validated: {_SESSION.unavailable}")
    elif (spec := _SESSION.spec) is not None:
        terminalreporter.write_line(
            f"Discord API specification: {spec.checked} requests checked against {SPEC_PATH.name} in "
            f"{spec.seconds:.2f} s (loading it: {_SESSION.load_seconds:.2f} s)"
        )
