"""``/papers help``: what paperbot does, the query language, schedules and options, and every command group.

The command list is read from the command tree itself, so help never names a command that does not exist or
misses one that does. The help lives in the ``/papers`` group because that group works everywhere (servers,
DMs, user installs); a top-level ``/help`` would collide with other bots' commands of that name.
"""

from __future__ import annotations

from typing import Any

from discord import app_commands

from bot.delivery.render import Embed, trim

HELP_COMMAND = "/papers help"
HELP_COLOUR = 0x5865F2
FIELD_LIMIT = 1024  # Discord's limit for an embed field's value

INTRO = (
    "paperbot watches Hugging Face Daily Papers (and, if configured, arXiv listings and RSS/Atom feeds), "
    "matches every newly listed paper against standing queries, and posts each match once: into a server "
    "channel (`/subscriptions`) or into your DMs (`/alerts`), instantly or as a daily or weekly digest."
)

QUERY_EXAMPLES = (
    ("diffusion transformer", "both words, anywhere in title, abstract or keywords"),
    ("diffusion OR flow", "either word (operators are case-insensitive)"),
    ("llm -survey", "`llm` but not `survey` (also `llm NOT survey`)"),
    ('"attention sink"', "the exact phrase"),
    ("(rag OR retrieval) agent", "parentheses group"),
    ("quant*", "any word starting with `quant`"),
    ("title:agent", "in the title only; also `abs:`, `au:`, `cat:`"),
    ('au:"yann lecun" cat:cs.LG', "an author, in an arXiv category (`cat:cs.*` for all of cs)"),
)

QUERY_NOTES = (
    "Case never matters; `LLM` also matches “LLMs” (stemming), quoted phrases match exactly; hyphens don't "
    'matter (`long-context` = `"long context"`). `NOT`/`-` binds tightest, then AND, then OR: `a b OR c` '
    'means `(a AND b) OR c`. Quote a word that is also an operator (`"or"`). At most 300 characters; '
    "try a query first with `/papers search` or `/subscriptions preview`."
)

SCHEDULES = (
    "**instant** (default): each match is posted as soon as a poll sees it, up to ten papers per message.",
    "**daily digest** / **weekly digest**: matches collect and go out as one message at the owner's digest time "
    "(`/subscriptions settings` for a server, `/alerts settings` for you; default 09:00 UTC, weekly on Monday).",
    "`min_upvotes:N`: only papers with at least N Hugging Face upvotes (re-checked for 3 days as upvotes grow).",
    "`backfill:N`: also send the N newest stored matches of the last 7 days right away.",
    "`max_per_day:N`: at most N instant posts a day, most upvoted first; the rest in one list at the digest time.",
    "`mention:@role` (`/subscriptions add`): ping that role when the subscription's papers arrive.",
)


def _command_lines(tree: app_commands.CommandTree[Any]) -> list[str]:
    """One line per command group (and top-level command) registered on the tree, with its subcommands."""
    lines = []
    for command in sorted(tree.get_commands(), key=lambda c: c.name):
        if isinstance(command, app_commands.Group):
            subs = ", ".join(f"`{c.name}`" for c in command.commands)
            lines.append(f"**/{command.name}** — {command.description}: {subs}")
        elif isinstance(command, app_commands.Command):
            lines.append(f"**/{command.name}** — {command.description}")
    return lines


def help_embeds(tree: app_commands.CommandTree[Any]) -> list[Embed]:
    """The help reply: what paperbot does, the query language with examples, schedules, the command groups."""
    examples = "\n".join(f"`{query}` — {meaning}" for query, meaning in QUERY_EXAMPLES)
    return [
        {
            "title": "paperbot help",
            "description": INTRO,
            "color": HELP_COLOUR,
            "fields": [
                {"name": "Query language", "value": examples},
                {"name": "Query rules", "value": QUERY_NOTES},
                {"name": "Schedules and options", "value": "\n".join(SCHEDULES)},
                {"name": "Commands", "value": trim("\n".join(_command_lines(tree)), FIELD_LIMIT)},
            ],
        }
    ]
