"""The records a pipeline holds between batches: read once, checked by version, read again only when they moved."""

from __future__ import annotations

from collections.abc import Iterable

from runsearch.indexer.lookups import Lookups
from runsearch.indexer.memory_store import MemoryStore
from runsearch.indexer.ports import Version, Versioned

INDEX = "lookup"


class Reads(MemoryStore):
    """Writes down which ids each read asks for, sources and versions apart."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[set[str]] = []
        self.versions_read: list[set[str]] = []

    def mget(self, index: str, ids: Iterable[str]) -> dict[str, Versioned]:
        ids = set(ids)
        self.sources.append(ids)
        return super().mget(index, ids)

    def versions(self, index: str, ids: Iterable[str]) -> dict[str, Version]:
        ids = set(ids)
        self.versions_read.append(ids)
        return super().versions(index, ids)


def put(store: MemoryStore, rid: str, title: str) -> None:
    seen = store.indices.get(INDEX, {}).get(rid)
    assert not store.write(INDEX, {rid: ({"title": title}, seen)})


def test_a_record_held_is_not_read_again() -> None:
    store, lookups = Reads(), Lookups()
    put(store, "workflows:a", "A")
    assert lookups.read(store, INDEX, {"workflows:a", "workflows:none"}) == {"workflows:a": {"title": "A"}}
    assert lookups.read(store, INDEX, {"workflows:a", "workflows:none"}) == {"workflows:a": {"title": "A"}}
    assert store.sources == [{"workflows:a", "workflows:none"}]  # a record the store lacks is held as lacking


def test_the_check_reads_versions_and_only_the_records_that_moved() -> None:
    store, lookups = Reads(), Lookups()
    put(store, "workflows:a", "A")
    put(store, "workflows:b", "B")
    lookups.read(store, INDEX, {"workflows:a", "workflows:b", "workflows:c"})
    put(store, "workflows:b", "B renamed")  # by another process
    put(store, "workflows:c", "C")  # created meanwhile
    store.sources.clear()
    now = lookups.checked(store, INDEX, {"workflows:a", "workflows:b", "workflows:c"})
    assert now == {"workflows:a": {"title": "A"}, "workflows:b": {"title": "B renamed"}, "workflows:c": {"title": "C"}}
    assert store.versions_read == [{"workflows:a", "workflows:b", "workflows:c"}]
    assert store.sources == [{"workflows:b", "workflows:c"}]
    assert lookups.read(store, INDEX, {"workflows:b"}) == {"workflows:b": {"title": "B renamed"}}  # held as checked


def test_a_record_gone_from_the_store_is_gone_from_the_check() -> None:
    store, lookups = Reads(), Lookups()
    put(store, "workflows:a", "A")
    lookups.read(store, INDEX, {"workflows:a"})
    del store.indices[INDEX]["workflows:a"]
    assert lookups.checked(store, INDEX, {"workflows:a"}) == {}


def test_what_the_pipeline_wrote_itself_is_read_again() -> None:
    store, lookups = Reads(), Lookups()
    put(store, "workflows:a", "A")
    lookups.read(store, INDEX, {"workflows:a"})
    put(store, "workflows:a", "A renamed")
    lookups.forget({"workflows:a"})
    assert lookups.read(store, INDEX, {"workflows:a"}) == {"workflows:a": {"title": "A renamed"}}


def test_it_is_emptied_at_its_limit_and_still_answers_in_full() -> None:
    store, lookups = Reads(), Lookups(limit=3)
    for rid in ("a", "b", "c", "d"):
        put(store, f"workflows:{rid}", rid.upper())
    lookups.read(store, INDEX, {"workflows:a", "workflows:b", "workflows:c"})
    assert lookups.read(store, INDEX, {"workflows:c", "workflows:d"}) == {"workflows:c": {"title": "C"},
                                                                          "workflows:d": {"title": "D"}}
    assert len(lookups.held) == 2
    assert lookups.checked(store, INDEX, {"workflows:a", "workflows:c"}) == {"workflows:a": {"title": "A"},
                                                                            "workflows:c": {"title": "C"}}
