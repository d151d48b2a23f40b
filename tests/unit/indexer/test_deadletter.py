"""Dead letters in Kafka Connect's convention, bounded in bytes, secrets withheld."""

from __future__ import annotations

import pytest

from runsearch.indexer.deadletter import EXCERPT_BYTES, Letter, letter

ORIGIN = ("skyvern.public.workflow_runs", 2, 41)


def size(dl: Letter) -> int:
    return len(dl.key or b"") + len(dl.value or b"") + sum(len(n) + len(v) for n, v in dl.headers)


def test_a_letter_carries_the_original_bytes_and_connect_headers() -> None:
    dl = letter("unknown op 'x'", "Poison", "VALUE_CONVERTER", ORIGIN, "workflow_runs", b"k", b"v", 1_000_000)
    assert (dl.key, dl.value, dl.payload, dl.origin, dl.reason) == (b"k", b"v", "original", ORIGIN, "unknown op 'x'")
    assert dl.header("__connect.errors.stage") == "VALUE_CONVERTER"
    assert dl.header("__connect.errors.exception.class.name") == "Poison"
    assert dl.header("runsearch.errors.original.bytes") == "2"


@pytest.mark.parametrize("limit", [16_384, 100_000, 1_000_000])
def test_a_letter_never_exceeds_its_limit_whatever_the_original(limit: int) -> None:
    value = b"x" * 2_000_000
    dl = letter("too big", "Poison", "VALUE_CONVERTER", ORIGIN, "workflow_runs", b"k" * 600_000, value, limit)
    assert size(dl) <= limit and dl.payload == "excerpt"
    assert dl.value == value[:EXCERPT_BYTES] and dl.header("runsearch.errors.original.bytes") == str(2_600_000)


def test_a_letter_of_a_table_holding_secrets_withholds_the_payload() -> None:
    dl = letter("bad", "Poison", "VALUE_CONVERTER", ORIGIN, "organization_auth_tokens", b'{"id": "k"}',
               b'{"token": "the-secret"}', 1_000_000)
    assert (dl.key, dl.value, dl.payload) == (None, None, "withheld")
    assert b"the-secret" not in b"".join(v for _, v in dl.headers)
