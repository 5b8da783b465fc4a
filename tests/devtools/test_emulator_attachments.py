"""Attachment options: the emulator resolves them in Discord's shape and serves their bytes from a loopback CDN."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from bot.devtools.emulator import DiscordEmulator

SPEC = Path(__file__).resolve().parents[2] / ".." / "shared" / "discord-api-spec" / "openapi.json"


async def test_an_attachment_option_is_resolved_as_discord_does_and_downloadable():
    if not SPEC.is_file():
        pytest.skip(f"../shared/discord-api-spec not present: {SPEC}")
    emulator = DiscordEmulator()
    await emulator.start()
    try:
        resolved: dict[str, object] = {}
        value = emulator._attachment_option("file", {"filename": "refs.bib", "content": b"@misc{x}"}, resolved)
        entry = resolved["attachments"][value]  # type: ignore[index]
        schema = json.loads(SPEC.read_text())["components"]["schemas"]["AttachmentResponse"]
        assert set(schema["required"]) <= set(entry) <= set(schema["properties"])
        assert entry["size"] == 8 and entry["filename"] == "refs.bib" and entry["url"].startswith("http://127.0.0.1")
        async with aiohttp.ClientSession() as session:
            async with session.get(entry["url"]) as response:
                assert response.status == 200 and await response.read() == b"@misc{x}"
            async with session.get(f"{emulator.cdn_base}/attachments/1/nothing.bib") as response:
                assert response.status == 404
        with pytest.raises(AssertionError, match="needs"):
            emulator._attachment_option("file", "not a file", {})
    finally:
        await emulator.stop()
