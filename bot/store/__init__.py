"""Persistence: the store (SQLite, or PostgreSQL with ``storage.url``) and its migrations."""

from bot.store.papers import SEARCH_WINDOW, Planner
from bot.store.store import Store

__all__ = ["SEARCH_WINDOW", "Planner", "Store"]
