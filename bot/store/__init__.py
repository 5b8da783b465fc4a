"""Persistence: the SQLite store and its migrations."""

from bot.store.database import DeliveryKey, DeliveryRecord, IngestResult, Owner, Planner, SourceState, Store

__all__ = ["DeliveryKey", "DeliveryRecord", "IngestResult", "Owner", "Planner", "SourceState", "Store"]
