"""Persistence: the SQLite store and its migrations."""

from bot.store.database import DeliveryKey, IngestResult, Planner, SourceState, Store

__all__ = ["DeliveryKey", "IngestResult", "Planner", "SourceState", "Store"]
