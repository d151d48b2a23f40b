"""Which buffered events are applied next: in step across partitions, prefixes only, never stalling."""

from __future__ import annotations

from hypothesis import given, strategies as st

from indexer.pacing import take

BUFFERS = st.dictionaries(st.integers(0, 5), st.lists(st.integers(0, 50), max_size=8), max_size=6)


def is_sorted(times: list[int]) -> bool:
    return times == sorted(times)


@given(buffered=BUFFERS, more=st.sets(st.integers(0, 7)), limit=st.integers(1, 30), force=st.booleans())
def test_takes_prefixes_in_step_and_always_progresses(buffered: dict[int, list[int]], more: set[int], limit: int,
                                                      force: bool) -> None:
    taken = take(buffered, more, limit, force)
    assert all(0 < n <= len(buffered[p]) for p, n in taken.items())
    assert sum(taken.values()) <= limit
    unknown = [p for p in more if not buffered.get(p)]
    anything = any(buffered.values())
    if unknown and not force:
        assert taken == {}  # a partition with more to read and nothing in hand: its time is unknown
        return
    assert bool(taken) == anything  # otherwise something is always taken
    ends = [t[-1] for p, t in buffered.items() if p in more and t]
    if ends and not force and all(is_sorted(t) for t in buffered.values()):
        horizon = min(ends)
        assert all(t <= horizon for p, n in taken.items() for t in buffered[p][:n])
        left = [t for p, times in buffered.items() for t in times[taken.get(p, 0):] if t <= horizon]
        if sum(taken.values()) < limit:
            assert not left  # everything up to the horizon is taken, unless the limit stops it
        else:
            newest_taken = max(t for p, n in taken.items() for t in buffered[p][:n])
            assert all(t >= newest_taken for t in left)  # oldest first


def test_a_topic_read_ahead_waits_for_the_others() -> None:
    buffered = {"tasks": [1, 2, 3, 9, 10], "runs": [1, 2, 4]}
    assert take(buffered, {"tasks", "runs"}, 100) == {"tasks": 3, "runs": 3}
    assert take(buffered, {"tasks"}, 100) == {"tasks": 5, "runs": 3}  # runs has nothing more to read
    assert take(buffered, {"tasks", "runs", "params"}, 100) == {}  # params' time is not known yet
    assert take(buffered, {"tasks", "runs", "params"}, 100, force=True) == {"tasks": 5, "runs": 3}
    assert take(buffered, {"tasks", "runs"}, 4) == {"tasks": 2, "runs": 2}
