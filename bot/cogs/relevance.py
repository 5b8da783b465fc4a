"""The commands' side of relevance: seeding a profile with ``like:``, ``/alerts import`` and ``forget``,
``/papers similar``, and the learned score in ``/papers explain``. The cogs declare the commands; the bodies
live here so each cog grows by a few lines."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from bot.cogs.ui import code, line_embeds, reply
from bot.delivery.render import trim
from bot.models import Mode, Paper, Scope, Subscription, Target, normalize_arxiv_id
from bot.relevance.library import MAX_LIBRARY_BYTES, LibraryError, parse_library
from bot.relevance.planning import per_day_of
from bot.store.profiles import LIKED, normalise_title
from bot.tree import UserFacingError

if TYPE_CHECKING:
    from bot.app import PaperBot

SIMILAR_SHOWN = 8
UNRECOGNISED_SHOWN = 10
MAX_LIKES = 50


async def liked_ids(bot: PaperBot, like: str | None) -> list[str]:
    """The stored papers ``like:`` names (comma-separated arXiv ids or URLs); any unknown one is an error."""
    if not like:
        return []
    raw = [part.strip() for part in like.split(",") if part.strip()]
    if len(raw) > MAX_LIKES:
        raise UserFacingError(f"`like:` takes at most {MAX_LIKES} papers; import a library with `/alerts import`.")
    ids = {part: normalize_arxiv_id(part) for part in raw}
    if bad := [part for part, paper_id in ids.items() if paper_id is None]:
        raise UserFacingError(f"{code(trim(bad[0], 80))} in `like:` is not an arXiv id (e.g. 2403.01234).")
    wanted = list(dict.fromkeys(i for i in ids.values() if i))
    stored = await bot.store.stored_ids(wanted)
    if missing := [i for i in wanted if i not in stored]:
        raise UserFacingError(
            f"I don't have {', '.join(code(i) for i in missing[:5])} stored, so it can't seed the profile: "
            "`like:` takes papers the sources have listed (try `/papers search`)."
        )
    return wanted


async def seed(bot: PaperBot, target: Target, user_id: int, paper_ids: list[str]) -> None:
    """Record ``like:`` papers as liked examples of the target and refit its model now."""
    if paper_ids:
        await bot.store.add_profile_examples(target, user_id, paper_ids, LIKED, "seed", bot.clock())
        await bot.engine.recommender.refit(target)


def profile_note(bot: PaperBot, sub: Subscription, seeded: int) -> str | None:
    """What the add reply says about the profile of a recommend-mode subscription."""
    if sub.mode is not Mode.RECOMMEND:
        return None
    where = "this channel's" if sub.channel_id else "your"
    if not bot.engine.recommender.has_profile(sub.target):
        return (
            f"Recommend mode: {where} profile has no liked papers yet, so nothing will be delivered until it has "
            "some: seed it with `like:` (arXiv ids) or, for alerts, `/alerts import`."
        )
    gate = "papers matching the query" if sub.query else "new papers"
    return (
        f"Recommend mode: {gate} are scored against {where} profile ({seeded} liked paper(s) seeded now); the best "
        f"are delivered, at most {per_day_of(sub)} a day for instant delivery."
    )


async def import_library(bot: PaperBot, interaction: discord.Interaction, file: discord.Attachment) -> None:
    """The body of ``/alerts import``: recognise a library's papers and like them, all or nothing."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    if file.size > MAX_LIBRARY_BYTES:
        raise UserFacingError(
            f"{code(trim(file.filename, 80))} is {file.size:,} bytes; libraries up to {MAX_LIBRARY_BYTES:,} bytes "
            "are accepted. Export a collection instead of the whole library."
        )
    try:
        entries = parse_library(await file.read(), file.filename)
    except LibraryError as exc:
        raise UserFacingError(str(exc)) from None
    except discord.HTTPException as exc:
        raise UserFacingError(f"I couldn't download the file from Discord ({exc.status}); please try again.") from None
    stored = await bot.store.stored_ids([e.arxiv_id for e in entries if e.arxiv_id])
    by_title = await bot.store.ids_by_title([e.title for e in entries if e.title])

    recognised: list[str] = []
    unrecognised: list[str] = []
    for entry in entries:
        paper_id = entry.arxiv_id if entry.arxiv_id in stored else by_title.get(normalise_title(entry.title))
        if paper_id:
            recognised.append(paper_id)
        else:
            unrecognised.append(entry.label)
    target = _alerts_target(interaction)
    added = await bot.store.add_profile_examples(target, interaction.user.id, recognised, LIKED, "import", bot.clock())
    if recognised:
        await bot.engine.recommender.refit(target)
    lines = [
        f"Recognised **{len(recognised)}** of {len(entries)} entries in {code(trim(file.filename, 80))} among the "
        f"stored papers; {added} new liked paper(s) in your alerts profile."
    ]
    if unrecognised:
        shown = "; ".join(trim(label, 80) for label in unrecognised[:UNRECOGNISED_SHOWN])
        more = f" … and {len(unrecognised) - UNRECOGNISED_SHOWN} more" if len(unrecognised) > UNRECOGNISED_SHOWN else ""
        lines.append(f"Not recognised ({len(unrecognised)}): {shown}{more}")
    lines.append("Alerts in `mode:recommend` now rank new papers with it; `/alerts forget` deletes it.")
    await reply(interaction, "\n".join(lines))


def _alerts_target(interaction: discord.Interaction) -> Target:
    return Target(Scope.USER, interaction.user.id)


async def forget(bot: PaperBot, interaction: discord.Interaction) -> None:
    """The body of ``/alerts forget``: delete the user's examples and model."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    target = _alerts_target(interaction)
    removed = await bot.store.forget_profile(target)
    await bot.engine.recommender.refit(target)
    await reply(
        interaction,
        f"Forgot your alerts profile: {removed} liked, imported or clicked paper(s) deleted and its model dropped. "
        "Recommend-mode alerts deliver nothing until you like or import papers again.",
    )


async def similar_lines(bot: PaperBot, paper: Paper) -> list[str]:
    """The stored papers most like ``paper`` (TF-IDF cosine, not itself), best first, each with the words they
    share: what ``/papers similar`` and the ``similar`` paper control show."""
    lines = []
    for paper_id, cosine, words in await bot.engine.recommender.similar(paper, SIMILAR_SHOWN):
        other = await bot.store.get_paper(paper_id)
        if other is None:
            continue
        shared = ", ".join(code(w) for w in words) or "—"
        lines.append(
            f"**[{trim(other.title, 150)}]({other.url or f'https://arxiv.org/abs/{other.id}'})** `{other.id}` · "
            f"similarity {cosine:.2f}\nshared: {shared}"
        )
    return lines


async def similar(bot: PaperBot, interaction: discord.Interaction, paper: Paper) -> None:
    """The body of ``/papers similar``: the stored papers most like ``paper``, with the words they share."""
    lines = await similar_lines(bot, paper)
    if not lines:
        await reply(interaction, f"No stored paper shares enough words with {code(paper.id)} yet.")
        return
    await reply(interaction, embeds=line_embeds(trim(f"Papers like {paper.id}: {paper.title}", 250), lines))


def score_line(bot: PaperBot, target: Target, paper: Paper) -> str | None:
    """``/papers explain``'s line about the learned score of ``paper`` for ``target``; None without a profile."""
    found = bot.engine.recommender.explain(target, paper)
    if found is None:
        return None
    side = "above" if found.score > found.threshold else "below"
    words = ", ".join(f"{code(w)} (+{share:.2f})" for w, share in found.words) or "no word the profile weighs up"
    return (
        f"🧠 Learned score {found.score:+.2f} ({side} the recommend threshold {found.threshold:+.2f}; "
        f"profile of {found.examples} liked paper(s)). Words behind it: {words}"
    )
