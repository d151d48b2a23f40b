"""How a generation's merge is followed, with a fake OpenSearch: polled until its task completes, and a task that
failed or vanished said so. The merge against a real server: tests/integration/test_generations.py."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from opensearchpy import NotFoundError

from runsearch.indexer import generations
from runsearch.mappings import Names


class FakeOpenSearch:
    """A force merge answered as a task whose polls return `statuses` in turn (an exception is raised)."""

    def __init__(self, statuses: list[dict[str, Any] | Exception]) -> None:
        self.statuses, self.merged, self.polls, self.refreshed = statuses, dict[str, Any](), 0, ""
        self.indices = SimpleNamespace(forcemerge=self._forcemerge, refresh=self._refresh)
        self.tasks = SimpleNamespace(get=self._get)

    def _forcemerge(self, **asked: Any) -> dict[str, str]:
        self.merged = asked
        return {"task": "node:7"}

    def _refresh(self, index: str) -> None:
        self.refreshed = index

    def _get(self, task_id: str) -> dict[str, Any]:
        assert task_id == "node:7"
        status = self.statuses[self.polls]
        self.polls += 1
        if isinstance(status, Exception):
            raise status
        return status


def merge(client: FakeOpenSearch) -> float:
    return generations.merge(client, Names("rs"), 3, segments=1, poll_seconds=0)  # type: ignore[arg-type]


def test_every_index_is_merged_the_task_followed_to_its_end_and_the_merged_segments_searched_at_once() -> None:
    client = FakeOpenSearch([{"completed": False}, {"completed": False},
                             {"completed": True, "task": {"running_time_in_nanos": 45_200_000_000}, "response": {}}])
    assert merge(client) == 45.2  # as long as OpenSearch says it ran
    assert client.polls == 3
    assert client.merged == {"index": "rs-runs-v3,rs-lookup-v3,rs-keys-v3", "max_num_segments": 1,
                             "wait_for_completion": False}
    assert client.refreshed == client.merged["index"]  # searches see the merged segments at once


@pytest.mark.parametrize("status", [NotFoundError(404, "resource_not_found_exception", {}),
                                    {"completed": True, "error": {"type": "index_not_found_exception"}}],
                         ids=["vanished", "failed"])
def test_a_merge_that_did_not_end_well_is_said_so(status: dict[str, Any] | Exception) -> None:
    client = FakeOpenSearch([{"completed": False}, status])
    with pytest.raises(generations.MergeLost, match="generation 3"):
        merge(client)
    assert not client.refreshed
