"""Papers as rows: the stored fields, named once, and their mapping to and from ``Paper``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.models import Paper
from bot.store.schema import dt, ts

# The stored Paper fields, named as both the dataclass fields and the columns: adding one is one edit here
# (plus its migration). JSON and timestamp columns are encoded on the way in and decoded on the way out.
PAPER_FIELDS = (
    "id",
    "title",
    "abstract",
    "authors",
    "categories",
    "source",
    "url",
    "pdf_url",
    "code_url",
    "project_url",
    "thumbnail_url",
    "upvotes",
    "ai_summary",
    "ai_keywords",
    "published_at",
    "first_seen_at",
    "version",
)
_JSON_FIELDS = frozenset({"authors", "categories", "ai_keywords"})
_TIME_FIELDS = frozenset({"published_at", "first_seen_at"})
PAPER_COLUMNS = ", ".join(PAPER_FIELDS)


def paper_columns(alias: str) -> str:
    """The paper columns qualified by a table alias, for joins."""
    return ", ".join(f"{alias}.{field}" for field in PAPER_FIELDS)


def paper_params(paper: Paper, now: datetime) -> dict[str, Any]:
    """Named parameters for one paper's row: every stored field, plus ``updated_at``."""
    params: dict[str, Any] = {}
    for field in PAPER_FIELDS:
        value = getattr(paper, field)
        if field in _JSON_FIELDS:
            value = json.dumps(value, ensure_ascii=False)  # FTS5 must see "Müller", not "M\\u00fcller"
        elif field in _TIME_FIELDS:
            value = ts(value)
        params[field] = value
    params["first_seen_at"] = ts(paper.first_seen_at or now)
    params["updated_at"] = ts(now)
    return params


def paper_from_row(row: Any) -> Paper:
    """The paper in a row holding the paper columns by name (a join may add others)."""
    values: dict[str, Any] = {}
    for field in PAPER_FIELDS:
        value = row[field]
        if field in _JSON_FIELDS:
            value = tuple(json.loads(value))
        elif field in _TIME_FIELDS:
            value = dt(value)
        values[field] = value
    return Paper(**values)
