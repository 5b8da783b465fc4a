"""Shared fixtures: a temporary store and paper factories; every emulator checks requests against Discord's
API specification (tests/spec_conformance.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.devtools.postgres import Cluster, find_binaries
from bot.models import Paper
from bot.store import Store
from tests.spec_conformance import (
    pytest_sessionfinish,
    pytest_terminal_summary,
    pytest_testnodedown,
    spec_violations,
)

__all__ = ["pytest_sessionfinish", "pytest_terminal_summary", "pytest_testnodedown", "spec_violations"]

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def make_paper(n: int = 1, **overrides: object) -> Paper:
    fields: dict[str, object] = {
        "id": f"2411.{n:05d}",
        "title": f"Paper number {n} about long-context attention",
        "abstract": "We study attention sinks in long-context language models.",
        "authors": ("Ada Lovelace", "Alan Turing"),
        "url": f"https://huggingface.co/papers/2411.{n:05d}",
    }
    fields.update(overrides)
    return Paper(**fields)  # type: ignore[arg-type]


@pytest.fixture
def threads_of(monkeypatch) -> Callable[[Any, str], list[threading.Thread]]:
    """``threads_of(module, "name")`` replaces ``module.name`` with a spy and returns the list of the threads each
    of its calls runs in (to check that work is done off the event loop's thread)."""

    def spy_on(module: Any, name: str) -> list[threading.Thread]:
        threads: list[threading.Thread] = []
        original = getattr(module, name)

        def spy(*args: Any, **kwargs: Any) -> Any:
            threads.append(threading.current_thread())
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, spy)
        return threads

    return spy_on


@pytest.fixture
async def store(tmp_path):
    s = await Store.open(str(tmp_path / "test.db"))
    yield s
    await s.close()


@pytest.fixture(scope="session")
def pg_cluster():
    """A throwaway PostgreSQL cluster for the whole session; tests skip (visibly) without the binaries."""
    bin_dir = find_binaries()
    if bin_dir is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found: install postgresql to run the PostgreSQL variant")
    cluster = Cluster.start(bin_dir)
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_location(request, tmp_path):
    """Where a test's database lives, once per driver: a SQLite file, or a new database on the cluster."""
    if request.param == "sqlite":
        return str(tmp_path / "test.db")
    return request.getfixturevalue("pg_cluster").create_database()
