"""How the sender groups due deliveries into messages: one batch per message, the papers bound for a target, the
deterministic nonces that let Discord deduplicate a resend, and the order targets take turns in."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.delivery import forum
from bot.delivery.controls import Component, paper_controls
from bot.delivery.forum import ForumPost
from bot.delivery.message import Outgoing
from bot.delivery.render import Embed, render_paper_embed
from bot.models import DeliveryKey, DeliveryStatus, Paper, PendingDelivery, Target


def attempted_before(rows: Sequence[PendingDelivery], moment: datetime) -> bool:
    """Whether the rows' last attempt was before ``moment`` (an interrupted send Discord's nonce no longer covers)."""
    last = max((r.attempted_at for r in rows if r.attempted_at is not None), default=None)
    return last is not None and last < moment


def fair_order(by_target: dict[Target, list[PendingDelivery]]) -> list[Target]:
    """Targets interleaved across owners (servers, users): A1, B1, C1, A2, B2, ... rather than A1..A500, B1."""
    by_owner: dict[int, list[Target]] = defaultdict(list)
    for target, rows in by_target.items():
        by_owner[rows[0].owner_id].append(target)
    queues = list(by_owner.values())
    order: list[Target] = []
    for turn in range(max((len(q) for q in queues), default=0)):
        order.extend(q[turn] for q in queues if turn < len(q))
    return order


def message_nonce(*parts: object) -> str:
    """A deterministic nonce (≤ 25 chars): the same batch always gets the same nonce."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()
    return "pb" + digest[:23]


@dataclass
class Batch:
    """One message to one target: embeds and controls, and the deliveries the message completes. ``post`` is set
    when the target is a forum: the message is then the first one of a new post."""

    target: Target
    embeds: list[Embed]
    keys: list[DeliveryKey]
    nonce: str
    attempts: int = 0
    retry_status: DeliveryStatus = DeliveryStatus.PENDING
    components: list[Component] = field(default_factory=list)
    post: ForumPost | None = None
    mention_roles: tuple[int, ...] = ()  # the roles the subscriptions behind these deliveries ping

    @property
    def outgoing(self) -> Outgoing:
        """What the message carries, for the transport."""
        return Outgoing(self.embeds, self.components, self.mention_roles)


@dataclass
class Papers:
    """Papers bound for one target, in order, with the subscriptions each one satisfies."""

    papers: dict[str, Paper] = field(default_factory=dict)
    keys: dict[str, list[DeliveryKey]] = field(default_factory=lambda: defaultdict(list))
    rows: list[PendingDelivery] = field(default_factory=list)
    roles: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))

    def add(self, row: PendingDelivery) -> None:
        self.papers.setdefault(row.paper.id, row.paper)
        self.keys[row.paper.id].append((row.subscription_id, row.paper.id))
        if row.mention_role_id is not None:
            self.roles[row.paper.id].add(row.mention_role_id)
        self.rows.append(row)

    def roles_of(self, paper_ids: Sequence[str]) -> tuple[int, ...]:
        """Every role pinged for these papers: when subscriptions share a message, the union of their roles."""
        return tuple(sorted({role for pid in paper_ids for role in self.roles.get(pid, ())}))

    @property
    def attempts(self) -> int:
        return max((r.attempts for r in self.rows), default=0)

    def embeds(self) -> list[tuple[str, Embed]]:
        """(paper id, embed) for each paper, its footer naming the subscriptions it satisfies here."""
        return [(pid, render_paper_embed(p, sorted({s for s, _ in self.keys[pid]}))) for pid, p in self.papers.items()]

    def batch(self, target: Target, ids: Sequence[str], embeds: list[Embed], nonce: str) -> Batch:
        """The message carrying papers ``ids`` (rendered as ``embeds``); a forum post when the target is a forum."""
        papers = [self.papers[pid] for pid in ids]
        keys = [k for pid in ids for k in self.keys[pid]]
        post = None
        if self.rows and self.rows[0].forum:
            post = forum.paper_post(papers[0], [r for r in self.rows if r.paper.id == ids[0]])
        return Batch(
            target,
            embeds,
            keys,
            nonce,
            self.attempts,
            components=paper_controls(papers),
            post=post,
            mention_roles=self.roles_of(ids),
        )
