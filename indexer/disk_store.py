"""A document store in one SQLite file, with OpenSearch's versioning rules (as `memory_store`): a rebuild folds the
topics into it through the pipeline, then writes each final document to OpenSearch once (`operations.fold`).

SQLite because it ships with Python, keeps memory bounded by its page cache whatever the dataset, and reads and
writes a document by key in microseconds. One writer (the fold), so nothing is made durable: a fold that stops
starts over. The fan-out fields of run documents (`tables.TABLES[...].fan_out_field`) are kept in a table of
their own, so that `matching` finds the runs of a definition or workflow by index, not by a scan.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from runsearch.errors import RunsearchError
from runsearch.indexer.ports import Version, Versioned, Writes
from runsearch.indexer.tables import TABLES

REFERENCES = sorted({t.fan_out_field for t in TABLES.values() if t.fan_out_field})
CHUNK = 500  # ids per statement (SQLite binds at most 32,766 values)
CACHE_KIB = 256 * 1024  # SQLite's page cache: what the fold's memory grows to, beside the pipeline's batch


class StoreFull(RunsearchError):
    """The disk under the store is full: an operator's to fix, shown as one line (not a traceback)."""


def _references(source: dict[str, Any]) -> set[tuple[str, str]]:
    out = set()
    for name in REFERENCES:
        value = source.get(name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                out.add((name, item))
    return out


def _chunks(ids: Iterable[str]) -> Iterator[list[str]]:
    it = iter(ids)
    while chunk := list(itertools.islice(it, CHUNK)):
        yield chunk


class DiskStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        # One thread at a time, not always the one that opened it (opensearch-py's parallel_bulk reads the documents
        # in a worker thread of its own).
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # Pages of 16 KiB (set before any table exists): a run document takes a few KB, and with the default 4 KiB
        # most of them overflowed their page; one fold part took 49.4-52.2 s with 4 KiB, 45.3-45.5 s with 16 KiB and
        # 50.1 s with 64 KiB (100,000 runs).
        for pragma in ("page_size = 16384", "journal_mode = OFF", "synchronous = OFF", "locking_mode = EXCLUSIVE",
                       "temp_store = MEMORY", f"cache_size = -{CACHE_KIB}"):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.execute("CREATE TABLE IF NOT EXISTS docs (idx TEXT, id TEXT, seq INTEGER, source BLOB, "
                        "PRIMARY KEY (idx, id)) WITHOUT ROWID")
        self.db.execute("CREATE TABLE IF NOT EXISTS refs (idx TEXT, field TEXT, value TEXT, id TEXT, "
                        "PRIMARY KEY (idx, field, value, id)) WITHOUT ROWID")
        self.seq = self.db.execute("SELECT coalesce(max(seq), 0) FROM docs").fetchone()[0]

    def close(self) -> None:
        self.db.close()

    def mget(self, index: str, ids: Iterable[str]) -> dict[str, Versioned]:
        return {doc_id: Versioned(orjson.loads(source), seq, 1, len(source))
                for doc_id, seq, source in self._rows("id, seq, source", index, ids)}

    def versions(self, index: str, ids: Iterable[str]) -> dict[str, Version]:
        return {doc_id: (seq, 1) for doc_id, seq in self._rows("id, seq", index, ids)}

    def _rows(self, columns: str, index: str, ids: Iterable[str]) -> Iterator[Any]:
        """`columns` of the documents of `index` among `ids`."""
        for chunk in _chunks(set(ids)):
            yield from self.db.execute(f"SELECT {columns} FROM docs WHERE idx = ? AND id IN ({','.join('?' * len(chunk))})",
                                       (index, *chunk))

    def write(self, index: str, docs: Writes) -> set[str]:
        current = {doc_id: seq for doc_id, (seq, _) in self.versions(index, docs).items()}
        rows, gone, added, conflicts = [], [], [], set()
        for doc_id, (source, seen) in docs.items():
            if (seen is None) != (doc_id not in current) or (seen is not None and seen.seq_no != current[doc_id]):
                conflicts.add(doc_id)
                continue
            self.seq += 1
            rows.append((index, doc_id, self.seq, orjson.dumps(source)))
            before = _references(seen.source) if seen is not None else set()
            after = _references(source)
            gone += [(index, name, value, doc_id) for name, value in before - after]
            added += [(index, name, value, doc_id) for name, value in after - before]
        try:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO docs VALUES (?, ?, ?, ?)", rows)
            self.db.executemany("DELETE FROM refs WHERE idx = ? AND field = ? AND value = ? AND id = ?", gone)
            self.db.executemany("INSERT OR IGNORE INTO refs VALUES (?, ?, ?, ?)", added)
            self.db.execute("COMMIT")
        except sqlite3.OperationalError as err:
            if err.sqlite_errorcode != sqlite3.SQLITE_FULL:
                raise
            raise StoreFull(f"the fold's store {self.path} filled its disk at {self.size():,} bytes: free space where "
                            "RUNSEARCH_FOLD_DIR points, or point it at a larger disk (a fold needs about 5 KB per run, "
                            "with its shared rows)") from None
        return conflicts

    def matching(self, index: str, query: dict[str, Any]) -> tuple[int, Iterator[str]]:
        """The runs holding any of the ids a fan-out asks for (`{"bool": {"should": [{"terms": {field: ids}}]}}`)."""
        found: set[str] = set()
        for clause in query["bool"]["should"]:
            ((name, values),) = clause["terms"].items()
            for chunk in _chunks(values):
                found.update(row[0] for row in self.db.execute(
                    f"SELECT id FROM refs WHERE idx = ? AND field = ? AND value IN ({','.join('?' * len(chunk))})",
                    (index, name, *chunk)))
        ordered = sorted(found)
        return len(ordered), iter(ordered)

    def documents(self, index: str, ids: list[str] | None = None) -> Iterator[tuple[str, bytes]]:
        """Every document of `index` (or those of `ids` among them) as (id, JSON bytes), in id order, read lazily."""
        if ids is None:
            yield from self.db.execute("SELECT id, source FROM docs WHERE idx = ? ORDER BY id", (index,))
            return
        for chunk in _chunks(sorted(ids)):
            yield from self.db.execute(f"SELECT id, source FROM docs WHERE idx = ? AND id IN ({','.join('?' * len(chunk))}) "
                                       "ORDER BY id", (index, *chunk))

    def count(self, index: str) -> int:
        return int(self.db.execute("SELECT count(*) FROM docs WHERE idx = ?", (index,)).fetchone()[0])

    def size(self) -> int:
        """Bytes on disk."""
        return self.path.stat().st_size
