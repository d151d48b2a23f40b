"""Which incarnation of its topic a partition's position belongs to: a topic created again is read from its start,
once, whether the indexer sees the new topic's id while it runs or finds its commit stamped with the old one. The
same against real Kafka: tests/integration/test_indexer.py."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st
from kafka import TopicPartition

from runsearch.indexer.incarnations import Incarnations

A0, A1 = TopicPartition("a", 0), TopicPartition("a", 1)
B0 = TopicPartition("b", 0)


def ids(**by_topic: str | None) -> dict[str, str | None]:
    return by_topic


def asked(stamps: dict[TopicPartition, str], log: list[TopicPartition]) -> Callable[[TopicPartition], str]:
    """The committed stamps, as the consumer gives them; `log` says which partitions were asked for."""

    def committed(tp: TopicPartition) -> str:
        log.append(tp)
        return stamps.get(tp, "")
    return committed


def test_a_partition_assigned_with_a_commit_of_another_incarnation_is_read_from_its_start() -> None:
    log: list[TopicPartition] = []
    seen = Incarnations()
    moved = seen.moved({A0, A1, B0}, ids(a="new", b="b1").get, asked({A0: "old", A1: "new"}, log))
    assert moved == {A0}  # A1's commit is of this topic; B0 has none (or one from before stamps): its position holds
    assert sorted(log) == [A0, A1, B0]
    assert (seen.stamp(A0), seen.stamp(A1), seen.stamp(B0)) == ("new", "new", "b1")


def test_a_topic_created_again_while_assigned_moves_its_partitions_once_and_only_them() -> None:
    log: list[TopicPartition] = []
    seen = Incarnations()
    committed = asked({}, log)
    assert seen.moved({A0, A1, B0}, ids(a="a1", b="b1").get, committed) == set()
    assert seen.moved({A0, A1, B0}, ids(a="a2", b="b1").get, committed) == {A0, A1}
    assert seen.moved({A0, A1, B0}, ids(a="a2", b="b1").get, committed) == set()
    assert len(log) == 3  # the committed stamps are asked for at assignment only
    assert seen.stamp(A0) == "a2"


def test_a_topic_gone_for_a_while_moves_only_if_it_comes_back_as_another() -> None:
    seen = Incarnations()
    committed = asked({}, [])
    seen.moved({A0}, ids(a="a1").get, committed)
    assert seen.moved({A0}, ids().get, committed) == set()  # gone from the metadata: nothing to compare with
    assert seen.stamp(A0) == "a1"  # commits still name the incarnation the position belongs to
    assert seen.moved({A0}, ids(a="a1").get, committed) == set()
    seen.moved({A0}, ids().get, committed)
    assert seen.moved({A0}, ids(a="a2").get, committed) == {A0}


def test_a_partition_assigned_again_is_judged_by_its_commit_again() -> None:
    """Another indexer held it meanwhile: its commit says what the position belongs to now."""
    log: list[TopicPartition] = []
    seen = Incarnations()
    seen.moved({A0, B0}, ids(a="a1", b="b1").get, asked({}, log))
    seen.moved({B0}, ids(a="a1", b="b1").get, asked({}, log))
    assert seen.stamp(A0) == ""  # not ours: nothing to stamp
    assert seen.moved({A0, B0}, ids(a="a2", b="b1").get, asked({A0: "a2"}, log)) == set()
    assert sorted(log[:2]) == [A0, B0] and log[2:] == [A0]  # A0 asked again when assigned again, B0 not


def test_without_topic_ids_nothing_moves() -> None:
    """A broker too old to name incarnations: the positions hold, as before stamps."""
    seen = Incarnations()
    committed = asked({A0: ""}, [])
    assert seen.moved({A0}, ids().get, committed) == set()
    assert seen.moved({A0}, ids().get, committed) == set()
    assert seen.stamp(A0) == ""


# A topic's id over time, as the consumer's metadata shows it: an incarnation (0-2), or None while it is not known.
VIEWS = st.lists(st.one_of(st.none(), st.integers(0, 2)), min_size=1, max_size=12)


@given(VIEWS, st.one_of(st.none(), st.integers(0, 2)))
def test_every_change_of_incarnation_is_read_from_the_start_exactly_once(views: list[int | None],
                                                                          stamp: int | None) -> None:
    seen = Incarnations()
    committed = asked({} if stamp is None else {A0: f"i{stamp}"}, [])
    moves = [bool(seen.moved({A0}, lambda _, v=view: None if v is None else f"i{v}", committed)) for view in views]
    known = [v for v in views if v is not None]
    expected_first = stamp is not None and bool(known) and known[0] != stamp
    changes = sum(a != b for a, b in itertools.pairwise(known))
    assert sum(moves) == changes + expected_first
    assert seen.stamp(A0) == (f"i{known[-1]}" if known else "" if stamp is None else f"i{stamp}")
