"""Isolating the events of a batch that cannot be applied, so that every other one is."""

from __future__ import annotations

import pytest

from runsearch.errors import DataError
from runsearch.indexer.isolation import apply_isolating
from runsearch.indexer.pipeline import Outcome
from tests.unit.indexer.events import RUN, change


def test_isolation_applies_everything_but_the_events_that_fail_alone() -> None:
    changes = [change("workflow_runs", {**RUN, "workflow_run_id": f"wr_{i}"}, i) for i in range(13)]
    applied: list[str] = []

    def apply(batch: list) -> Outcome:
        if any(c.key[0] in ("wr_3", "wr_11") for c in batch):
            raise KeyError("a bug that quotes data: secret-value")
        applied.extend(c.key[0] for c in batch)
        return Outcome(documents_written=len(batch))

    isolated = apply_isolating(apply, changes, (ConnectionError,))
    assert sorted(isolated.failures) == [3, 11] and isolated.outcome.documents_written == 11
    assert set(applied) == {f"wr_{i}" for i in range(13)} - {"wr_3", "wr_11"}
    failure = isolated.failures[3]
    assert failure.error == "KeyError" and failure.reason.startswith("KeyError raised at test_isolation.py:")
    assert "secret-value" not in failure.reason


def test_isolation_keeps_the_reason_of_a_data_error_and_raises_passing_errors() -> None:
    changes = [change("workflow_runs", RUN, 1)]

    def refused(batch: list) -> Outcome:
        raise DataError("OpenSearch refused document wr_1: 400 mapper_parsing_exception")

    assert apply_isolating(refused, changes, (ConnectionError,)).failures[0].reason.endswith("mapper_parsing_exception")

    def away(batch: list) -> Outcome:
        raise ConnectionError("OpenSearch is away")

    with pytest.raises(ConnectionError):
        apply_isolating(away, changes, (ConnectionError,))
