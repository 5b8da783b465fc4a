"""A hostile Hugging Face listing end to end (issue 16): the bot records the failure, tells the owner, keeps
polling, and one poisoned item never costs the good ones."""

from __future__ import annotations

from bot.devtools.fakes.hostile import NESTED_JSON, poisoned_items
from bot.sources.base import MAX_UPVOTES
from tests.e2e.conftest import World, arxiv_ids, today


async def _status_for_owner(world: World) -> str:
    result = await world.emulator.invoke(
        user_id=world.emulator.owner_id, name="papers", subcommand="status", options={}
    )
    return result.embeds[0]["description"]


async def test_a_listing_that_breaks_the_decoder_is_a_failed_poll_and_polling_goes_on(world: World, items, caplog):
    # The feed URL carries a credential, as some do: it must show nowhere (status, owner DM, logs).
    leaky_url = world.hf.url.replace("http://", "http://reader:hunter2@") + "?token=SECRET"
    world.config["sources"] = {"degraded_after": 2, "huggingface": {"url": leaky_url}}
    world.config["discord"] = {"dev_guild_id": 0}  # commands everywhere: the owner asks in a DM
    await world.start_bot()
    await world.polls_completed(1)  # catalogues the empty listing
    await world.subscriptions("add", query='"attention sink"')

    world.hf.fail_next(200, body=NESTED_JSON, times=2)  # 100,000-deep JSON: RecursionError in the decoder
    await world.wait_until(lambda: world.emulator.dm_channel_id(world.emulator.owner_id) is not None, timeout=20)
    owner_dm = world.emulator.dm_channel_id(world.emulator.owner_id)
    (notice,) = await world.emulator.wait_for_messages(owner_dm, 1)
    assert "failed 2 polls in a row" in notice["content"] and "RecursionError" in notice["content"]
    state = await world.bot.store.source_state("huggingface")
    assert state.consecutive_failures >= 2 and "malformed JSON" in state.last_error
    status = await _status_for_owner(world)
    assert "failure(s) in a row" in status and "RecursionError" in status
    world.hf.fail_next(500)  # an HTTP error names the URL
    for text in (notice["content"], status, state.last_error, caplog.text):
        assert "SECRET" not in text and "hunter2" not in text

    # The source recovers and keeps polling; poisoned items are clamped, the good one is delivered with them.
    listing = [*poisoned_items(items[44]), items[44]]
    world.hf.publish(today(), listing)
    want = {item["paper"]["id"] for item in listing}
    await world.wait_until(lambda: set(arxiv_ids(world.emulator.messages(world.channel_id))) >= want, timeout=30)
    recovered = await world.emulator.wait_for_messages(owner_dm, 2, timeout=20)
    assert "recovered" in recovered[1]["content"]
    assert (await world.bot.store.get_paper("2411.90000")).upvotes == MAX_UPVOTES
    await world.polls_completed(2, timeout=20)
    assert "ok" in await _status_for_owner(world)
    http_error = next(r.getMessage() for r in caplog.records if "HTTP 500" in r.getMessage())
    assert "?…" in http_error and "SECRET" not in caplog.text and "hunter2" not in caplog.text
