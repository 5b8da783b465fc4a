"""Persistence: the SQLite store and its migrations."""

from bot.store.database import Planner, Store

__all__ = ["Planner", "Store"]
