"""Hypothesis strategies shared by the feed-parsing tests."""

from __future__ import annotations

from hypothesis import strategies as st


def spliced(document: bytes) -> st.SearchStrategy[bytes]:
    """Hypothesis bodies: ``document`` with a random span replaced by random bytes (a feed broken in one place)."""
    return st.builds(
        lambda i, j, data: document[:i] + data + document[j:],
        st.integers(0, len(document)),
        st.integers(0, len(document)),
        st.binary(max_size=30),
    )
