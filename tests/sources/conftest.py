"""Shared fixtures of the source tests: the loopback fake sources."""

from collections.abc import AsyncIterator

import pytest

from bot.devtools.fakes.huggingface import FakeHuggingFace


@pytest.fixture
async def hf() -> AsyncIterator[FakeHuggingFace]:
    server = FakeHuggingFace()
    await server.start()
    yield server
    await server.stop()
