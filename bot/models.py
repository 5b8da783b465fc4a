"""Domain objects: plain dataclasses with no I/O, shared by every layer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

ARXIV_ABS_URL = "https://arxiv.org/abs/{id}"
ARXIV_PDF_URL = "https://arxiv.org/pdf/{id}"
# Sources whose metadata is the paper's own (arXiv's listing, HF's copy of it): a generic feed's never replaces it.
CURATED_SOURCES = frozenset({"huggingface", "arxiv"})
ARXIV_ID_RE = re.compile(r"(\d{4}\.\d{4,5}|[a-z-]+(?:\.[A-Z]{2})?/\d{7})(v\d+)?")


DOI_RE = re.compile(r"10\.\d{4,9}/\S+")
_DOI_URL_RE = re.compile(r"^(?:https?://)?(?:dx\.)?doi\.org/", re.IGNORECASE)


MAX_ID_TEXT = 300  # the longest text read as a paper id or URL


def paper_key(raw: str) -> str:
    """The stored id of a paper as a person types or pastes it (``/papers show``, ``explain``).

    A DOI (``doi:10.1145/3583780.3614920`` as the embed footer prints it, a bare ``10.1145/…`` or a doi.org
    link) → ``doi:`` and the DOI in lower case; a feed entry's ``rss:…`` id as printed; an arXiv id or URL (any
    version, ``arXiv 2403.01234`` as in the footer) → the id without version; anything else stripped.
    DOIs are read first: their digits (``3583780.3614920``) would otherwise pass for an arXiv id.
    """
    text = raw.strip()
    if len(text) > MAX_ID_TEXT:
        return text  # no id is that long; searching it for one would cost time quadratic in its length
    lower = text.lower()
    doi = _DOI_URL_RE.sub("", lower[4:].strip() if lower.startswith("doi:") else lower)
    if DOI_RE.fullmatch(doi):
        return f"doi:{doi}"
    if lower.startswith("rss:"):
        return f"rss:{lower[4:].strip()}"
    return normalize_arxiv_id(text) or text


def normalize_arxiv_id(raw: str) -> str | None:
    """Return the arXiv id without its version (``2403.01234v2`` → ``2403.01234``), or None.

    Accepts bare ids and URLs such as ``https://arxiv.org/abs/2403.01234v2`` or
    ``https://huggingface.co/papers/2403.01234``.
    """
    match = ARXIV_ID_RE.search(raw.strip())
    return match.group(1) if match else None


def arxiv_version(raw: str) -> int | None:
    """The version an arXiv id carries (``2403.01234v2`` → 2), or None when it names none."""
    match = ARXIV_ID_RE.search(raw.strip())
    return int(match.group(2)[1:]) if match and match.group(2) and len(match.group(2)) < 8 else None


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
    version: int | None = None  # arXiv's version (2 for 2403.01234v2) when the source says; the newest seen
    # How the source announced it: "new" (first listing), "cross" (cross-list), or "replace"/"replace-cross"
    # (a new version of an existing paper: stored and merged, never delivered as new).
    announce_type: str = "new"

    @property
    def is_new_version(self) -> bool:
        return self.announce_type.startswith("replace")


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    REMOVED = "removed"


class Scope(StrEnum):
    """The one server-vs-user split, carried by owners, targets, subscriptions and digest settings.

    A ``GUILD`` subscription (``/subscriptions``) belongs to a server and posts into one of its channels; a
    ``USER`` subscription (an alert, ``/alerts``) belongs to one user and goes to that user's DMs. So an owner's
    id is a guild id or a user id, and a target's id is a channel id or a user id, by the same scope.
    """

    GUILD = "guild"
    USER = "user"


class Mode(StrEnum):
    """How a subscription picks papers: its query decides (``match``), or the target's learned profile ranks
    what the query (optional, then a hard gate) lets through (``recommend``)."""

    MATCH = "match"
    RECOMMEND = "recommend"


class Schedule(StrEnum):
    INSTANT = "instant"
    DAILY = "daily"
    WEEKLY = "weekly"


@dataclass(frozen=True, slots=True)
class Owner:
    """Who owns a set of subscriptions: a server (channel subscriptions) or a user (DM alerts)."""

    scope: Scope
    id: int

    @classmethod
    def guild(cls, guild_id: int) -> Owner:
        return cls(Scope.GUILD, guild_id)

    @classmethod
    def user(cls, user_id: int) -> Owner:
        return cls(Scope.USER, user_id)


@dataclass(frozen=True, slots=True)
class Target:
    """Where deliveries go: a server channel (``GUILD``, by channel id) or a user's DMs (``USER``, by user id)."""

    scope: Scope
    id: int

    def __str__(self) -> str:
        """``channel:123`` or ``user:456``, as log lines show a target."""
        return f"{'channel' if self.scope is Scope.GUILD else 'user'}:{self.id}"


@dataclass(frozen=True, slots=True)
class Subscription:
    """A standing query: a channel's (``/subscriptions``) or a user's DM alert (``/alerts``)."""

    id: int
    scope: Scope
    guild_id: int | None
    channel_id: int | None
    user_id: int
    query: str
    created_at: datetime
    schedule: Schedule = Schedule.INSTANT
    min_upvotes: int = 0
    last_digest_at: datetime | None = None
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE
    pause_reason: str | None = None
    delivered_count: int = 0
    forum: bool = False  # the channel is a forum: one post per paper
    forum_tags: tuple[int, ...] = ()  # the forum's tag ids each post gets
    mention_role_id: int | None = None  # channel subscriptions: the role pinged when its papers arrive
    max_per_day: int = 0  # instant posts per day at most (0: no cap); the rest go in one overflow message
    mode: Mode = Mode.MATCH

    @property
    def active(self) -> bool:
        return self.status is SubscriptionStatus.ACTIVE

    @property
    def owner(self) -> Owner:
        if self.scope is Scope.GUILD:
            assert self.guild_id is not None
            return Owner.guild(self.guild_id)
        return Owner.user(self.user_id)

    @property
    def target(self) -> Target:
        if self.scope is Scope.GUILD:
            assert self.channel_id is not None
            return Target(Scope.GUILD, self.channel_id)
        return Target(Scope.USER, self.user_id)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    HELD = "held"  # waiting for the subscription's digest
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


DeliveryKey = tuple[int, str]
"""(subscription id, paper id): the identity of one delivery."""


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One outbox row as "why (not) posted?" reports it."""

    status: DeliveryStatus
    message_id: int | None
    last_error: str | None
    channel_id: int | None  # where the message went (the DM channel for alerts, once opened)


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    """An outbox row joined with what the sender needs to post it."""

    subscription_id: int
    target: Target
    paper: Paper
    attempts: int = 0
    nonce: str | None = None
    attempted_at: datetime | None = None
    owner_id: int = 0  # the guild (channel subscriptions) or user (alerts): senders take turns between owners
    forum: bool = False  # the target is a forum channel: one post (thread) per paper
    forum_tags: tuple[int, ...] = ()  # the subscription's forum tag ids
    mention_role_id: int | None = None  # the role the subscription pings
    max_per_day: int = 0  # the subscription's daily cap on instant posts (0: none)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class DigestSettings:
    """When digests go out, for one server or one user: local time in an IANA zone; weekly on a weekday."""

    timezone: str = "UTC"
    digest_time: str = "09:00"
    weekly_day: int = 0  # Monday

    def describe(self) -> str:
        return f"daily at {self.digest_time} ({self.timezone}); weekly on {WEEKDAY_NAMES[self.weekly_day]}s"


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one batch of fetched papers changed."""

    new_papers: tuple[Paper, ...]
    updated: int
    queued: int
    deferred: int = 0  # unseen papers over the per-poll cap, left unstored for the next poll
    compacted: int = 0  # matched pairs kept compact, queued later by the background expansion


class SourceHealth(StrEnum):
    """A change in a source's health worth telling the bot's owner about."""

    DEGRADED = "degraded"  # it crossed the failure threshold and is backing off
    RECOVERED = "recovered"  # it polled successfully again after being degraded


@dataclass(frozen=True, slots=True)
class SourceState:
    """A source's polling history, as the store keeps it across restarts."""

    source: str
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    consecutive_failures: int
    last_error: str | None
    successes: int = 0
    degraded: bool = False
    next_attempt_at: datetime | None = None  # set while backing off after failures
