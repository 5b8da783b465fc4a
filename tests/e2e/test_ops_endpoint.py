"""``[ops] listen``: /healthz and /metrics of the running bot, read with a real HTTP client."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import World, today
from tests.e2e.test_papers_commands import papers
from tests.e2e.test_subscriptions import QUERY, expected_ids


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


async def _probe(config: Path) -> int:
    """The Docker HEALTHCHECK command, as the image runs it."""
    env = {**os.environ, "PAPERBOT_CONFIG": str(config)}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.ops.probe", env=env)
    return await proc.wait()


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_health_and_metrics_over_http(world: World, items, tmp_path):
    base = f"http://127.0.0.1:{_free_port()}"
    world.config["ops"] = {"listen": base.removeprefix("http://")}
    probe_config = tmp_path / "probe.toml"
    probe_config.write_text(f'[ops]\nlisten = "{base.removeprefix("http://")}"\n')
    world.hf.publish(today(), items[:30])
    await world.start_bot()
    await world.polls_completed(1)
    assert await _get(f"{base}/healthz") == (200, "ok\n")
    assert await _probe(probe_config) == 0

    await world.subscriptions("add", query=QUERY)
    await papers(world, "status", user_id=world.member_id)
    # Discord answers the first post 429: counted, then retried and delivered.
    world.emulator.fail_next("POST", r"/channels/\d+/messages", status=429, retry_after=0.05)
    world.hf.publish(today(), items[30:])
    want = expected_ids(items[30:])
    await world.emulator.wait_for_messages(world.channel_id, 1)
    await world.outbox_drained()
    await asyncio.sleep(0.6)  # a couple of loop-lag probes

    status, text = await _get(f"{base}/metrics")
    assert status == 200
    samples = _samples(text)
    assert _value(samples, "paperbot_polls_total", source="huggingface", outcome="ok") >= 2
    assert _value(samples, "paperbot_papers_ingested_total", source="huggingface") == len(items)
    assert _value(samples, "paperbot_deliveries_total", kind="channel", outcome="sent") == len(want)
    assert _value(samples, "paperbot_outbox_depth") == 0
    assert _value(samples, "paperbot_discord_429_total") >= 1
    assert _value(samples, "paperbot_discord_request_seconds_count") > 0
    assert _value(samples, "paperbot_command_seconds_count", command="subscriptions add") == 1
    assert _value(samples, "paperbot_command_seconds_count", command="papers status") == 1
    assert _value(samples, "paperbot_event_loop_lag_seconds_count") >= 1
    assert _value(samples, "paperbot_gateway_connected") == 1
    assert _value(samples, "paperbot_papers_stored") == len(items)
    assert _value(samples, "paperbot_database_bytes") > 0
    assert _value(samples, "paperbot_source_last_success_timestamp_seconds", source="huggingface") > 0

    # Hugging Face starts failing: after three poll intervals without a success the bot reports unhealthy.
    world.hf.fail_next(500, times=1000)

    async def unhealthy() -> tuple[int, str]:
        while (answer := await _get(f"{base}/healthz"))[0] == 200:
            await asyncio.sleep(0.2)
        return answer

    status, body = await asyncio.wait_for(unhealthy(), 30)
    assert status == 503 and "huggingface: no successful poll since" in body and "HTTP 500" in body, body
    samples = _samples((await _get(f"{base}/metrics"))[1])
    assert _value(samples, "paperbot_polls_total", source="huggingface", outcome="failed") >= 1
    assert await _probe(probe_config) == 1
    (tmp_path / "off.toml").write_text("")
    assert await _probe(tmp_path / "off.toml") == 0  # endpoint off: the HEALTHCHECK passes


async def test_the_endpoint_is_off_by_default(world: World):
    await world.start_bot()
    assert world.bot is not None and world.bot.ops is None
