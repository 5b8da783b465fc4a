"""Compact matches: a poll's plain matches kept as one row per paper (its subscription ids, packed) and expanded into
outbox rows in the background, a chunk at a time, as the sender gets near them.

A 2,500-paper day at a million subscriptions is 160 million (subscription, paper) pairs; written as outbox rows in
the ingest transaction that is hours, while Discord lets a bot send ~500 papers a second whatever the outbox holds.
So ingest stores each new paper's sorted subscription ids in ``paper_matches`` (delta-encoded with the narrowest
unsigned type that fits: about a byte a pair for a dense day), and :meth:`MatchQueries.expand_matches` turns them into
outbox rows oldest paper first, queueing a chunk and advancing the row's cursor (``expanded``) in one transaction:
exactly once across crashes and restarts. Expanded rows keep the ingest time as ``created_at``, so the sender's order
is what it would have been. A poll with few plain pairs (at most :data:`IMMEDIATE_PAIRS`) is queued at once instead.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from bot.store.connection import AnyDatabase, Connection
from bot.store.dialect import dialect_of
from bot.store.outbox import QUEUE_CHUNK, queue_matched
from bot.store.schema import ts

Ids = npt.NDArray[np.int64]

# A poll whose plain pairs number at most this is queued in its ingest transaction, as before: small polls pay no
# wait for the background expansion.
IMMEDIATE_PAIRS = QUEUE_CHUNK
HEAD_PAGE = 32  # compact rows read at a time to fill a chunk (reading up to a chunk's 4,000 each time was waste)
# Compact rows decoded per worker-thread call when looking for some subscriptions' pairs (a digest about to go out).
SCAN_PAGE = 200
_OFF_LOOP_BYTES = 65_536  # a blob at least this large is decoded in a worker thread
_WIDTHS: tuple[np.dtype[np.unsignedinteger], ...] = tuple(np.dtype(f"<u{n}") for n in (1, 2, 4, 8))
_HEADER = 9  # one byte naming the deltas' width, then the first id as a little-endian int64


@dataclass(frozen=True, slots=True)
class CompactMatches:
    """Some new papers' plain matches: each paper's subscription ids, sorted and unique (NumPy). A stream of plans
    names each paper in at most one of these."""

    by_paper: Mapping[str, Ids]

    @property
    def pairs(self) -> int:
        """How many (subscription, paper) pairs these are."""
        return sum(len(ids) for ids in self.by_paper.values())


def pack_ids(ids: Ids) -> bytes:
    """Sorted, unique subscription ids as bytes: the first id, then the gaps in the narrowest unsigned type."""
    gaps = np.diff(ids)
    widest = int(gaps.max()) if len(gaps) else 0
    code = next(n for n, width in enumerate(_WIDTHS) if widest < 1 << (8 * width.itemsize))
    return bytes([code]) + int(ids[0]).to_bytes(8, "little", signed=True) + gaps.astype(_WIDTHS[code]).tobytes()


def unpack_ids(blob: bytes) -> Ids:
    """The ids :func:`pack_ids` packed."""
    gaps = np.frombuffer(blob, dtype=_WIDTHS[blob[0]], offset=_HEADER)
    ids = np.empty(len(gaps) + 1, dtype=np.int64)
    ids[0] = int.from_bytes(blob[1:_HEADER], "little", signed=True)
    np.cumsum(gaps, dtype=np.int64, out=ids[1:])  # in integers: mixing uint64 and int64 would go through floats
    ids[1:] += ids[0]
    return ids


async def _unpack(blob: bytes) -> Ids:
    return await asyncio.to_thread(unpack_ids, blob) if len(blob) >= _OFF_LOOP_BYTES else unpack_ids(blob)


class CompactWriter:
    """Takes a poll's :class:`CompactMatches` inside its ingest transaction: held back while the poll's plain pairs
    are few (then queued as outbox rows by :meth:`finish`), else written as compact rows."""

    def __init__(self, db: Connection, now: datetime) -> None:
        self._db, self._now = db, now
        self._held: dict[str, Ids] = {}
        self.pairs = 0  # plain pairs taken
        self.compacted = 0  # of them, kept compact for the background expansion

    async def add(self, matches: CompactMatches) -> None:
        """Take some papers' matches."""
        self.pairs += matches.pairs
        self._held.update(matches.by_paper)
        if self.pairs > IMMEDIATE_PAIRS:
            held, self._held = self._held, {}
            packed = await asyncio.to_thread(_pack_all, held)
            await self._db.executemany(
                "INSERT INTO paper_matches (paper_id, subscription_ids, total, expanded, created_at) "
                "VALUES (:paper_id, :ids, :total, 0, :now)",
                [{"paper_id": p, "ids": blob, "total": total, "now": ts(self._now)} for p, blob, total in packed],
            )
            self.compacted += sum(total for _, _, total in packed)

    async def finish(self) -> int:
        """Queue what was held back (a small poll's pairs); returns the outbox rows written."""
        held, self._held = self._held, {}
        matched = {paper_id: ids.tolist() for paper_id, ids in held.items() if len(ids)}
        return await queue_matched(self._db, matched, self._now) if matched else 0


class MatchQueries:
    """The compact-matches part of :class:`bot.store.Store`."""

    _db: AnyDatabase

    async def expand_matches(self, most: int = QUEUE_CHUNK) -> int:
        """Turn up to ``most`` compact pairs into outbox rows, oldest paper first (then by paper id, as the sender
        orders them), and advance the compact rows' cursors in the same transaction; a row fully expanded goes.
        Returns the pairs taken (0: nothing is compact)."""
        async with self._db.transaction() as db:
            taking: list[tuple[str, int, int, int, str]] = []  # paper, total, cursor, new cursor, created_at
            room, after = most, ("", "")
            while room > 0:  # the oldest rows, a page at a time: a dense paper fills a chunk from its row alone
                async with db.execute(
                    "SELECT paper_id, total, expanded, created_at FROM paper_matches "
                    "WHERE (created_at, paper_id) > (:created_at, :paper_id) "
                    "ORDER BY created_at, paper_id LIMIT :page",
                    {"created_at": after[0], "paper_id": after[1], "page": HEAD_PAGE},
                ) as cursor:
                    heads = list(await cursor.fetchall())
                for row in heads:
                    if room <= 0:
                        break
                    end = min(row["total"], row["expanded"] + room)
                    taking.append((row["paper_id"], row["total"], row["expanded"], end, row["created_at"]))
                    room -= end - row["expanded"]
                if len(heads) < HEAD_PAGE:
                    break
                after = (heads[-1]["created_at"], heads[-1]["paper_id"])
            by_time: dict[str, dict[str, list[int]]] = {}
            for paper_id, _, start, end, created_at in taking:
                ids = await _unpack(await _blob(db, paper_id))
                by_time.setdefault(created_at, {})[paper_id] = ids[start:end].tolist()
            for created_at, matched in by_time.items():
                await queue_matched(db, matched, datetime.fromisoformat(created_at))
            for paper_id, total, start, end, _ in taking:
                # Conditional on the cursor read: a second expander (a leader handing over) moves it once.
                sql = (
                    "DELETE FROM paper_matches WHERE paper_id = :paper_id AND expanded = :start"
                    if end >= total
                    else "UPDATE paper_matches SET expanded = :end WHERE paper_id = :paper_id AND expanded = :start"
                )
                await db.execute(sql, {"paper_id": paper_id, "start": start, "end": end})
            return most - room

    async def expand_matches_for(self, subscription_ids: Sequence[int]) -> int:
        """Queue now every compact pair of these subscriptions (a digest about to be built must hold them all),
        scanning the compact rows a page at a time with NumPy in a worker thread. The bulk expansion later finds
        these rows already there. Returns the outbox rows written."""
        wanted = np.unique(np.asarray(subscription_ids, dtype=np.int64))
        queued, after = 0, ("", "")
        while len(wanted):
            rows = await self._db.fetchall(
                "SELECT paper_id, subscription_ids, created_at FROM paper_matches "
                "WHERE (created_at, paper_id) > (:created_at, :paper_id) ORDER BY created_at, paper_id LIMIT :page",
                {"created_at": after[0], "paper_id": after[1], "page": SCAN_PAGE},
            )
            if not rows:
                break
            after = (rows[-1]["created_at"], rows[-1]["paper_id"])
            pages = [(r["paper_id"], bytes(r["subscription_ids"]), r["created_at"]) for r in rows]
            found = await asyncio.to_thread(_find, pages, wanted)
            if found:
                async with self._db.transaction() as db:
                    queued += await _queue_found(db, found)
        return queued

    async def compact_pair(self, subscription_id: int, paper_id: str) -> bool:
        """Whether (subscription, paper) is matched but still compact: it will be queued."""
        row = await self._db.fetchone(
            "SELECT subscription_ids, expanded FROM paper_matches WHERE paper_id = :paper_id", {"paper_id": paper_id}
        )
        if row is None:
            return False
        ids = await _unpack(bytes(row["subscription_ids"]))
        position = int(np.searchsorted(ids, subscription_id))
        return position >= row["expanded"] and position < len(ids) and int(ids[position]) == subscription_id


def _pack_all(matched: Mapping[str, Ids]) -> list[tuple[str, bytes, int]]:
    return [(paper_id, pack_ids(ids), len(ids)) for paper_id, ids in matched.items() if len(ids)]


async def _blob(db: Connection, paper_id: str) -> bytes:
    async with db.execute(
        "SELECT subscription_ids FROM paper_matches WHERE paper_id = :paper_id", {"paper_id": paper_id}
    ) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return bytes(row["subscription_ids"])


def _find(rows: Sequence[tuple[str, bytes, str]], wanted: Ids) -> dict[str, dict[str, list[int]]]:
    """Per ingest time, the papers among ``rows`` (paper id, packed ids, created_at) matched by ``wanted``."""
    found: dict[str, dict[str, list[int]]] = {}
    for paper_id, blob, created_at in rows:
        ids = unpack_ids(blob)
        hits = ids[np.isin(ids, wanted, assume_unique=True)]
        if len(hits):
            found.setdefault(created_at, {})[paper_id] = hits.tolist()
    return found


async def _queue_found(db: Connection, found: Mapping[str, Mapping[str, list[int]]]) -> int:
    """Queue pairs found in compact rows, only for papers still holding one (a row gone was expanded in full, and
    its paper may since have been pruned)."""
    papers = [paper_id for matched in found.values() for paper_id in matched]
    async with db.execute(
        f"SELECT paper_id FROM paper_matches WHERE paper_id IN ({dialect_of(db).ids('ids')})",
        {"ids": json.dumps(papers)},
    ) as cursor:
        present = {row["paper_id"] for row in await cursor.fetchall()}
    queued = 0
    for created_at, matched in found.items():
        kept = {paper_id: ids for paper_id, ids in matched.items() if paper_id in present}
        if kept:
            queued += await queue_matched(db, kept, datetime.fromisoformat(created_at))
    return queued
