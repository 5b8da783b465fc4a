"""Forum targets: each delivered paper (and each digest) becomes one forum post, exactly once.

Creating a forum post (``POST /channels/{forum}/threads``) takes no nonce, so Discord cannot deduplicate a resend.
Instead the sender records the attempt (status ``sending`` with a reference) before the request, and a post
whose attempt was interrupted — a crash, a timeout, a 5xx after Discord may have created it — is first looked
for among the forum's active posts, by its name and then by the reference in its first message's footer (the
paper's ``arXiv <id>`` marker, or the digest's ``ref …``), and only created again when it is not there.

This module stays Discord-free: the transport does the requests.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.delivery.message import Outgoing
from bot.delivery.render import clean_text, trim
from bot.models import Paper, PendingDelivery, Subscription

log = logging.getLogger(__name__)

POST_NAME_LIMIT = 100
MAX_TAGS = 5  # Discord's limit on a post's applied_tags


class ForumTransport(Protocol):
    """The forum requests a transport makes."""

    async def create_post(self, forum_id: int, name: str, message: Outgoing, tags: Sequence[int]) -> int:
        """Create a forum post whose first message is ``message`` (pinging exactly its roles); return the post's
        (thread's) id.
        Raises TargetGone, RetryLater or Rejected."""
        ...

    async def active_posts(self, guild_id: int, forum_id: int) -> list[tuple[int, str]]:
        """(post id, name) of the forum's active posts."""
        ...

    async def first_footers(self, post_id: int) -> list[str] | None:
        """The embed footers of a post's first message; None when it cannot be read (then the name decides)."""
        ...


@dataclass(frozen=True, slots=True)
class ForumPost:
    """What makes a message a forum post: the server, the post's name and its tags."""

    guild_id: int
    name: str
    tags: tuple[int, ...]


def post_name(text: str) -> str:
    """A post name Discord accepts: one line, 1 to 100 characters."""
    return trim(clean_text(text), POST_NAME_LIMIT) or "paper"


def union_tags(tag_lists: Iterable[Sequence[int]]) -> tuple[int, ...]:
    """The tags of every subscription involved, in order, each once, at most Discord's 5."""
    return tuple(dict.fromkeys(tag for tags in tag_lists for tag in tags))[:MAX_TAGS]


def paper_post(paper: Paper, rows: Sequence[PendingDelivery]) -> ForumPost:
    """The post for one paper delivered to a forum by ``rows`` (one per matching subscription)."""
    return ForumPost(rows[0].owner_id, post_name(paper.title or paper.id), union_tags(r.forum_tags for r in rows))


def digest_post(sub: Subscription, count: int, end: datetime) -> ForumPost:
    """``Daily digest — 2026-12-01, 14 papers``."""
    assert sub.guild_id is not None
    label = "Weekly" if sub.schedule == "weekly" else "Daily"
    name = f"{label} digest — {end.date().isoformat()}, {count} paper{'s' if count != 1 else ''}"
    return ForumPost(sub.guild_id, post_name(name), union_tags([sub.forum_tags]))


async def find_post(transport: ForumTransport, forum_id: int, post: ForumPost, marker: str) -> int | None:
    """The post an interrupted attempt may have created: an active post of the forum with this name whose first
    message's footer ends with ``marker``; None when there is none (then it is safe to create it)."""
    for post_id, name in await transport.active_posts(post.guild_id, forum_id):
        if name != post.name:
            continue
        footers = await transport.first_footers(post_id)
        if footers is None or any(f.endswith(marker) for f in footers):
            log.info("found forum post %d (%r) from an interrupted attempt; not posting it again", post_id, name)
            return post_id
    return None
