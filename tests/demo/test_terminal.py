"""Messages rendered for the terminal: paper id and title first, Discord markup as a reader sees it."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.delivery.render import render_paper_embed
from bot.demo.terminal import plain, render_message
from bot.models import Paper

NAMES = {("channel", 1): "papers", ("role", 2): "readers", ("user", 3): "ben"}


def name_of(kind: str, snowflake: int) -> str:
    return NAMES.get((kind, snowflake), str(snowflake))


def test_markup_reads_as_in_the_app():
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    in_five_minutes = int(now.timestamp()) + 300
    text = f"**#1** in <#1> for <@&2> by <@3>, next <t:{in_five_minutes}:R>; see [the docs](https://x.org) \\*x\\*"
    assert plain(text, name_of, now) == "#1 in #papers for @readers by @ben, next in 5 minutes; see the docs *x*"
    assert plain("```\nllm OR\n    ^\n```", name_of, now) == "    llm OR\n        ^"


def test_a_rendered_paper_starts_with_its_id_and_title_and_ends_with_the_footer():
    paper = Paper(
        id="2403.01234",
        title="Attention *Sinks* at Scale",
        abstract="A long abstract. " * 40,
        authors=("A. Author", "B. Author"),
        upvotes=7,
        url="https://huggingface.co/papers/2403.01234",
        pdf_url="https://arxiv.org/pdf/2403.01234",
    )
    message = {
        "content": "<@&2>",
        "embeds": [render_paper_embed(paper, [4])],
        "components": [
            {"type": 1, "components": [{"type": 2, "custom_id": "like:2403.01234", "emoji": {"name": "👍"}}]}
        ],
    }
    lines = render_message(message, name_of)
    assert lines[0] == "  @readers"
    assert lines[1] == "  ┌ 2403.01234  Attention *Sinks* at Scale"
    assert lines[2] == "  │ A. Author, B. Author"
    assert any(line.endswith(" …") for line in lines)  # the abstract is cut to a couple of lines
    assert "  └ Hugging Face · subscription #4 · arXiv 2403.01234" in lines
    assert lines[-1] == "  [👍]"
