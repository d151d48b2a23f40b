"""Which run a message is about, read from its raw key and value without decoding the event, and whether a scope
holds it (a scoped replay keeps or skips messages by both), also once it has forgotten what it drew."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from runsearch.indexer import replay
from runsearch.indexer.replay import Scope, run_id, task_id


class Message:
    def __init__(self, key: Any, value: Any) -> None:
        self.key = None if key is None else orjson.dumps(key)
        self.value = None if value is None else orjson.dumps(value)


def test_the_run_of_a_message_is_read_without_decoding_it() -> None:
    assert run_id("workflow_runs", Message({"workflow_run_id": "wr_1"}, None)) == "wr_1"
    assert run_id("workflow_run_parameters", Message({"schema": {}, "payload": {"workflow_run_id": "wr_2",
                                                                                 "workflow_parameter_id": "p"}}, {})) == "wr_2"
    assert run_id("tasks", Message({"task_id": "t"}, {"after": {"workflow_run_id": "wr_3"}})) == "wr_3"
    assert run_id("tasks", Message({"task_id": "t"}, None)) is None and task_id(Message({"task_id": "t"}, None)) == "t"  # type: ignore[arg-type]
    assert run_id("workflow_runs", Message(None, None)) is None
    assert run_id("tasks", Message({"task_id": "t"}, None)) is None
    broken = Message(None, None)
    broken.key, broken.value = b"{not json", b"{not json"
    assert run_id("workflow_runs", broken) is None and run_id("tasks", broken) is None and task_id(broken) is None  # type: ignore[arg-type]


@given(st.floats(0.05, 0.95), st.binary(min_size=16, max_size=16), st.binary(min_size=16, max_size=16))
def test_a_scope_holds_its_named_runs_and_about_its_share_of_all_others_drawn_anew_by_each_salt(
        share: float, salt: bytes, other: bytes) -> None:
    runs = [f"wr_{n}" for n in range(4_000)]
    scope = Scope(frozenset({"wr_named"}), share, salt)
    drawn = {rid for rid in runs if rid in scope}
    assert "wr_named" in scope and None not in scope
    assert abs(len(drawn) - share * len(runs)) < 5 * (share * (1 - share) * len(runs)) ** 0.5  # five sigmas
    if salt != other:
        assert drawn != {rid for rid in runs if rid in Scope(frozenset(), share, other)}
    assert drawn == {rid for rid in runs if rid in Scope(frozenset(), share, salt)}  # the same salt, the same runs
    assert not any(rid in Scope(frozenset(), 0.0, salt) for rid in runs)
    assert all(rid in Scope(frozenset(), 1.0, salt) for rid in runs)


def test_a_scope_that_forgets_its_draws_draws_the_same_runs_again(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = [f"wr_{n}" for n in range(2_000)] * 2  # every run met twice: once drawn, once remembered or drawn again
    expected = [rid in Scope(frozenset({"wr_7"}), 0.3, b"salt") for rid in runs]
    monkeypatch.setattr(replay, "DRAWS_KEPT", 10)
    forgetful = Scope(frozenset({"wr_7"}), 0.3, b"salt")
    assert [rid in forgetful for rid in runs] == expected
    assert len(forgetful.drawn) <= 10 and "wr_7" in forgetful
