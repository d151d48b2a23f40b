"""Dead letters in Kafka Connect's convention, bounded in bytes, secrets withheld; and isolating the events
of a batch that fail."""

from __future__ import annotations

import pytest

from indexer.deadletter import EXCERPT_BYTES, Letter, letter
from indexer.isolation import apply_isolating
from indexer.pipeline import Outcome
from runsearch.errors import DataError
from tests.test_merge import RUN, change

ORIGIN = ("skyvern.public.workflow_runs", 2, 41)


def size(l: Letter) -> int:
    return len(l.key or b"") + len(l.value or b"") + sum(len(n) + len(v) for n, v in l.headers)


def test_a_letter_carries_the_original_bytes_and_connect_headers() -> None:
    l = letter("unknown op 'x'", "Poison", "VALUE_CONVERTER", ORIGIN, "workflow_runs", b"k", b"v", 1_000_000)
    assert (l.key, l.value, l.payload, l.origin, l.reason) == (b"k", b"v", "original", ORIGIN, "unknown op 'x'")
    assert l.header("__connect.errors.stage") == "VALUE_CONVERTER"
    assert l.header("__connect.errors.exception.class.name") == "Poison"
    assert l.header("runsearch.errors.original.bytes") == "2"


@pytest.mark.parametrize("limit", [16_384, 100_000, 1_000_000])
def test_a_letter_never_exceeds_its_limit_whatever_the_original(limit: int) -> None:
    value = b"x" * 2_000_000
    l = letter("too big", "Poison", "VALUE_CONVERTER", ORIGIN, "workflow_runs", b"k" * 600_000, value, limit)
    assert size(l) <= limit and l.payload == "excerpt"
    assert l.value == value[:EXCERPT_BYTES] and l.header("runsearch.errors.original.bytes") == str(2_600_000)


def test_a_letter_of_a_table_holding_secrets_withholds_the_payload() -> None:
    l = letter("bad", "Poison", "VALUE_CONVERTER", ORIGIN, "organization_auth_tokens", b'{"id": "k"}',
               b'{"token": "the-secret"}', 1_000_000)
    assert (l.key, l.value, l.payload) == (None, None, "withheld")
    assert b"the-secret" not in b"".join(v for _, v in l.headers)


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
    assert failure.error == "KeyError" and failure.reason.startswith("KeyError raised at test_deadletter.py:")
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
