"""The records run documents embed (parameter definitions, workflow titles), held by a pipeline between batches.

A run document is made with the definitions and the workflow it uses, and checked against them again after it is
written (`pipeline`: another process may have changed one meanwhile). Read from OpenSearch each time, that was about
five real-time gets per run written, twice: 4,900 gets a second at 1,000 events a second, a tenth of a core of
OpenSearch's. These records rarely change, so they are held here with their versions: embedding reads only the ones
not held, and the check after a write asks for versions alone (`Store.versions`, no source loaded), reading a record
again only where its version moved. A record held is at worst older than the store's, which the check finds; the
pipeline forgets what it writes itself. Bounded: emptied when it holds `limit` records. Each is held as its JSON
text beside its version, which Python's cycle collector does not scan: the live indexer collects after every batch
(`indexer.collector`), dozens a second, and 5,300 records held as dicts cost each collection a millisecond more.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import orjson

from runsearch.indexer.ports import Store, Version, Versioned
from runsearch.indexer.records import Record

LIMIT = 50_000  # records held (a few hundred bytes each); more are read again after the cache is emptied
Held = tuple[int, int, bytes]  # seq_no, primary_term, the record as JSON


@dataclass
class Lookups:
    limit: int = LIMIT
    # id -> the record as read, or None where the store held none
    held: dict[str, Held | None] = field(default_factory=dict)

    def read(self, store: Store, index: str, ids: Collection[str]) -> dict[str, Record]:
        """The records of `ids` that exist, as held, or read where not held."""
        self._bound()
        if missing := [i for i in ids if i not in self.held]:
            self._hold(store.mget(index, missing), missing)
        return self._records(ids)

    def checked(self, store: Store, index: str, ids: Collection[str]) -> dict[str, Record]:
        """The records of `ids` as the store holds them now: their versions read, and the records whose version is
        not the one held read again."""
        self._bound()
        now = store.versions(index, ids)
        if moved := [i for i in ids if i not in self.held or _version(self.held[i]) != now.get(i)]:
            self._hold(store.mget(index, moved), moved)
        return self._records(ids)

    def forget(self, ids: Collection[str]) -> None:
        """Records this pipeline wrote: read again when next needed."""
        for i in ids:
            self.held.pop(i, None)

    def _bound(self) -> None:
        if len(self.held) >= self.limit:
            self.held.clear()

    def _hold(self, found: dict[str, Versioned], asked: list[str]) -> None:
        self.held.update({i: None if (v := found.get(i)) is None else (v.seq_no, v.primary_term, orjson.dumps(v.source))
                          for i in asked})

    def _records(self, ids: Collection[str]) -> dict[str, Record]:
        return {i: orjson.loads(held[2]) for i in ids if (held := self.held.get(i)) is not None}


def _version(held: Held | None) -> Version | None:
    return None if held is None else held[:2]
