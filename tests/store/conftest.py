"""The store tests run against both drivers: SQLite and PostgreSQL."""

import pytest

from bot.store import Store


@pytest.fixture
async def store(storage_location):
    s = await Store.open(storage_location)
    yield s
    await s.close()
