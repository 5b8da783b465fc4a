"""What a hostile or broken source sends, for the loopback fakes to serve: gzip bombs and poisoned HF items."""

from __future__ import annotations

import zlib
from typing import Any

GZIP_HEADERS = {"Content-Encoding": "gzip"}


def gzip_bomb(decompressed_bytes: int) -> bytes:
    """A gzip stream of ``decompressed_bytes`` zero bytes (about a thousandth of that compressed), built a
    megabyte at a time so making it never holds the decompressed size in memory."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # 16+: gzip framing
    block = bytes(1 << 20)
    parts = []
    for start in range(0, decompressed_bytes, len(block)):
        parts.append(compressor.compress(block[: min(len(block), decompressed_bytes - start)]))
    parts.append(compressor.flush())
    return b"".join(parts)


def poisoned_items(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Daily Papers items, each a copy of ``template`` with one field that once crashed the source: upvotes past
    SQLite's integers, dates outside datetime's range in UTC, nesting where objects belong, a float past any
    integer. Ids are ``2411.9000N``. (An integer of 5,000 digits breaks the whole page: ``LONG_INTEGER_JSON``.)"""
    poisons: list[tuple[str, Any]] = [
        ("upvotes", 9223372036854775808),
        ("publishedAt", "0001-01-01T00:00:00+01:00"),
        ("publishedAt", "9999-12-31T23:30:00-01:00"),
        ("authors", [[[[{"name": "deep"}]]]]),
        ("upvotes", 1e308),
    ]
    items = []
    for n, (key, value) in enumerate(poisons):
        item = {**template, "paper": {**template["paper"], "id": f"2411.9000{n}", key: value}}
        item["publishedAt"] = item["paper"]["publishedAt"]
        items.append(item)
    return items


NESTED_JSON = b"[" * 100_000 + b"]" * 100_000
"""A JSON body nested 100,000 deep: Python's decoder raises RecursionError."""

LONG_INTEGER_JSON = b"[" + b"7" * 5000 + b"]"
"""A JSON body with an integer literal of 5,000 digits: Python's decoder raises ValueError (digit limit)."""
