"""Persistence: the SQLite store and its migrations."""

from bot.store.database import DeliveryKey, IngestResult, Owner, Planner, SourceState, Store

__all__ = ["DeliveryKey", "IngestResult", "Owner", "Planner", "SourceState", "Store"]
