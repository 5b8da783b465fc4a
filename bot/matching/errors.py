"""The one exception users can cause with a query."""

from __future__ import annotations


class QueryError(ValueError):
    """A query that cannot be used, with a friendly explanation of what is wrong and where.

    ``position`` is a 0-based character offset into the query text (None when the problem is the
    query as a whole). ``str(error)`` is meant for people, so it counts characters from 1.
    """

    def __init__(self, message: str, position: int | None = None, query: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.query = query

    def __str__(self) -> str:
        if self.position is None:
            return self.message
        return f"{self.message} (at character {self.position + 1})"

    def with_caret(self) -> str:
        """Return the query with a ``^`` under the offending character (for a code block), or ``str(self)``."""
        if self.position is None or self.query is None:
            return str(self)
        # Any whitespace (tabs, newlines) would break the caret's alignment: show it as a space.
        line = "".join(" " if char.isspace() else char for char in self.query)
        return f"{self}\n{line}\n{' ' * self.position}^"
