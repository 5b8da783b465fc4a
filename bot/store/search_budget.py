"""What bounds one user search on either driver: a time budget, and the error past it."""

from __future__ import annotations

SEARCH_TIME_BUDGET = 0.75  # seconds one user search (a statement) may run before the database stops it


class SearchTooCostly(Exception):
    """A search was refused before it ran (too many prefixes: the message says so) or stopped past its budget."""
