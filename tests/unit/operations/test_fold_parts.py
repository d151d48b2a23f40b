"""The fold's other parts in processes of their own (real spawned processes, no servers): a part's report comes back;
its error, or its death without one (`kill -9`, as the OOM killer does), stops the first part at its next step; and
leaving ends a part still running. A `multiprocessing.Pool` waited forever for a killed worker's task."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from runsearch.errors import RunsearchError
from runsearch.operations import Refused
from runsearch.operations.fold_parts import Child, PartLost, failing_fast, started


def _part(how: str) -> Any:
    if how == "fails":
        raise Refused("OpenSearch refused document wr_7: 400 mapper_parsing_exception")
    if how == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "unpicklable":
        raise RunsearchError(lambda: None)
    if how == "runs on":
        time.sleep(60)
    return {"events": 12}


def _first_part_steps(children: list[Child], seconds: float = 60) -> list[str]:
    """The first part's steps, until a check raises or `seconds` pass."""
    shown: list[str] = []
    step = failing_fast(lambda phase, *_: shown.append(phase), children)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        step("folding the topics", 1, 2)
        time.sleep(0.01)
    return shown


def test_a_parts_report_comes_back() -> None:
    with started({"fold part 1": ("done",)}, _part) as children:
        assert children[0].result() == {"events": 12}
        assert _first_part_steps(children, 1.0)  # a part that is done stops nothing


@pytest.mark.parametrize("how, error, message", [
    ("fails", Refused, "wr_7: 400 mapper_parsing_exception"),
    ("killed", PartLost, r"fold part 1 ended without a result \(exit code -9;"),
    ("unpicklable", RunsearchError, r"RunsearchError\(<function .*\) \(AttributeError handing it over\)"),
])
def test_a_part_that_fails_or_dies_stops_the_first_part_at_its_next_step(how: str, error: type, message: str) -> None:
    with started({"fold part 1": (how,)}, _part) as children, pytest.raises(error, match=message):
        _first_part_steps(children)
    with started({"fold part 1": (how,)}, _part) as children, pytest.raises(error, match=message):
        children[0].result()  # and where the first part, done with its own share, waits for it


def test_leaving_ends_a_part_still_running() -> None:
    with started({"fold part 1": ("runs on",)}, _part) as children:
        process = children[0].process
        assert process.is_alive()
    assert not process.is_alive() and process.exitcode == -signal.SIGTERM
