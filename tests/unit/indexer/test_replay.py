"""Which run a message is about, read from its raw key and value without decoding the event (a scoped replay keeps
or skips messages by it)."""

from __future__ import annotations

from typing import Any

import orjson

from runsearch.indexer.replay import run_id, task_id


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
