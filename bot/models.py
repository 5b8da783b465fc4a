"""Domain objects: plain dataclasses with no I/O, shared by every layer."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

ARXIV_ID_RE = re.compile(r"(\d{4}\.\d{4,5}|[a-z-]+(?:\.[A-Z]{2})?/\d{7})(v\d+)?")


def normalize_arxiv_id(raw: str) -> str | None:
    """Return the arXiv id without its version (``2403.01234v2`` → ``2403.01234``), or None.

    Accepts bare ids and URLs such as ``https://arxiv.org/abs/2403.01234v2`` or
    ``https://huggingface.co/papers/2403.01234``.
    """
    match = ARXIV_ID_RE.search(raw.strip())
    return match.group(1) if match else None


@dataclass(frozen=True, slots=True)
class Paper:
    """One paper, keyed by its arXiv id without version."""

    id: str
    title: str
    abstract: str
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    source: str = "huggingface"
    url: str = ""
    pdf_url: str | None = None
    code_url: str | None = None
    project_url: str | None = None
    thumbnail_url: str | None = None
    upvotes: int = 0
    ai_summary: str | None = None
    ai_keywords: tuple[str, ...] = ()
    published_at: datetime | None = None
    first_seen_at: datetime | None = None
    # How the source announced it: "new" (first listing), "cross" (cross-list), or "replace"/"replace-cross"
    # (a new version of an existing paper: stored and merged, never delivered as new).
    announce_type: str = "new"

    @property
    def is_new_version(self) -> bool:
        return self.announce_type.startswith("replace")


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class Subscription:
    """A channel's standing query."""

    id: int
    guild_id: int
    channel_id: int
    query: str
    created_by: int
    created_at: datetime
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE
    pause_reason: str | None = None
    delivered_count: int = 0

    @property
    def active(self) -> bool:
        return self.status is SubscriptionStatus.ACTIVE


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    """An outbox row joined with what the sender needs to post it."""

    subscription_id: int
    channel_id: int
    paper: Paper
    attempts: int = 0
    nonce: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
