"""The paper controls every delivered paper carries (👍 like, 👎 dislike, 🔖 save, 🔎 similar), as Discord
component dicts (this module stays Discord-free; ``bot.cogs.controls`` answers the clicks).

How they attach, within Discord's limits (5 action rows, 5 buttons a row, 25 options a select, custom_id ≤ 100):

- a message with one paper gets one row of four buttons; each ``custom_id`` is ``paper:<action>:<paper id>``
  (e.g. ``paper:like:2403.01234``);
- a message with several papers (up to ten embeds) and a digest get four string selects, one row each, with
  ``custom_id`` ``papers:<action>``; each option's ``value`` is a paper id, for the first 25 papers listed.

Everything a click needs is in the ``custom_id`` and the values, so the controls work after a restart.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bot.delivery.render import clean_text, trim
from bot.models import Paper

Component = dict[str, Any]

ACTIONS = ("like", "dislike", "save", "similar")
EMOJI = {"like": "👍", "dislike": "👎", "save": "🔖", "similar": "🔎"}
LABEL = {"like": "Like", "dislike": "Dislike", "save": "Save to DMs", "similar": "Similar"}
PLACEHOLDER = {
    "like": "👍 Like a paper…",
    "dislike": "👎 Dislike a paper…",
    "save": "🔖 Save a paper to your DMs…",
    "similar": "🔎 Papers similar to…",
}
CUSTOM_ID_LIMIT = 100
OPTION_LIMIT = 25
OPTION_TEXT_LIMIT = 100
BUTTON_PREFIX = "paper"
SELECT_PREFIX = "papers"
_ACTION = "|".join(ACTIONS)
# The custom_id templates the cog's DynamicItems are registered with.
BUTTON_TEMPLATE = rf"{BUTTON_PREFIX}:(?P<action>{_ACTION}):(?P<paper>\S+)"
SELECT_TEMPLATE = rf"{SELECT_PREFIX}:(?P<action>{_ACTION})"
_BUTTON_RE = re.compile(BUTTON_TEMPLATE)


def button_id(action: str, paper_id: str) -> str:
    """``paper:<action>:<paper id>``."""
    return f"{BUTTON_PREFIX}:{action}:{paper_id}"


def select_id(action: str) -> str:
    """``papers:<action>``."""
    return f"{SELECT_PREFIX}:{action}"


def _fits(paper_id: str) -> bool:
    """Whether a paper id can travel in a control (ids from DOIs can be long; arXiv ids always fit)."""
    return (
        len(button_id("dislike", paper_id)) <= CUSTOM_ID_LIMIT
        and len(paper_id) <= OPTION_TEXT_LIMIT
        and _BUTTON_RE.fullmatch(button_id("like", paper_id)) is not None
    )


def paper_buttons(paper_id: str) -> list[Component]:
    """One action row: 👍 👎 🔖 🔎 for one paper."""
    return [
        {
            "type": 1,
            "components": [
                {
                    "type": 2,
                    "style": 2,
                    "custom_id": button_id(action, paper_id),
                    "label": LABEL[action],
                    "emoji": {"name": EMOJI[action]},
                }
                for action in ACTIONS
            ],
        }
    ]


def paper_selects(papers: Sequence[Paper]) -> list[Component]:
    """Four action rows, one string select per action, each offering the first 25 papers by title."""
    options = [
        {
            "label": trim(f"{n}. {clean_text(p.title) or p.id}", OPTION_TEXT_LIMIT),
            "value": p.id,
            "description": trim(p.id, OPTION_TEXT_LIMIT),
        }
        for n, p in enumerate(papers[:OPTION_LIMIT], start=1)
    ]
    return [
        {
            "type": 1,
            "components": [
                {
                    "type": 3,
                    "custom_id": select_id(action),
                    "placeholder": PLACEHOLDER[action],
                    "min_values": 1,
                    "max_values": 1,
                    "options": options,
                }
            ],
        }
        for action in ACTIONS
    ]


def paper_controls(papers: Sequence[Paper]) -> list[Component]:
    """The controls for a message carrying ``papers`` (in the order listed): buttons for one paper, selects for
    several; none for papers whose ids are too long for a control."""
    usable = [p for p in papers if _fits(p.id)]
    if not usable:
        return []
    if len(papers) == 1:
        return paper_buttons(usable[0].id)
    return paper_selects(usable)
