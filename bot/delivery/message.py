"""One outgoing message, as the sender hands it to a transport: its embeds, its paper controls and the roles it
pings (and only those)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.delivery.controls import Component
from bot.delivery.render import Embed


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What a message carries; where it goes (a channel, a new forum post) is the transport call's business."""

    embeds: Sequence[Embed]
    components: Sequence[Component] = ()
    mention_roles: Sequence[int] = ()
