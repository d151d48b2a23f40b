"""Apply a batch so that no event can stop the events after it.

When applying fails for a reason that is not a passing server error (a document OpenSearch refuses for what
it holds, or any error the data causes), the batch is split in halves, recursively, until the events that
fail on their own are found: every other event is applied, and the failing ones are returned with their
reason, to become dead letters. Applying is idempotent, so halves applied before a failure are harmless.
Passing errors (a server away or overloaded) are raised, for the caller to retry the whole batch.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from runsearch.errors import DataError
from runsearch.indexer.decode import Change
from runsearch.indexer.pipeline import Outcome


@dataclass(frozen=True)
class Failure:
    error: str  # the exception's class
    reason: str  # never the data itself: it can hold secrets


@dataclass
class Isolated:
    outcome: Outcome
    failures: dict[int, Failure] = field(default_factory=dict)  # index into the changes -> why it failed


def apply_isolating(apply: Callable[[list[Change]], Outcome], changes: list[Change],
                    transient: tuple[type[BaseException], ...]) -> Isolated:
    try:
        return Isolated(apply(changes))
    except transient:
        raise
    except Exception as err:  # noqa: BLE001 - whatever the data causes must not stop the events after it
        if len(changes) <= 1:
            return Isolated(Outcome(), {0: _failure(err)} if changes else {})
        half = len(changes) // 2
        first = apply_isolating(apply, changes[:half], transient)
        second = apply_isolating(apply, changes[half:], transient)
        first.outcome.add(second.outcome)
        return Isolated(first.outcome, {**first.failures, **{i + half: f for i, f in second.failures.items()}})


def _failure(err: Exception) -> Failure:
    if isinstance(err, DataError):
        return Failure(type(err).__name__, str(err))
    # An unexpected error: its message can quote the event, so the reason names where it was raised instead.
    frame = traceback.extract_tb(err.__traceback__)[-1]
    return Failure(type(err).__name__, f"{type(err).__name__} raised at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} "
                                       f"({frame.name}) while applying the event")
