"""The answer cache: keyed by the exact search body and the encoding, answers expire after their time, bounded in
bytes, off at 0; answers are kept compressed for the clients that accept gzip."""

from __future__ import annotations

import gzip

from runsearch.api.answers import Answer, Answers
from runsearch.api.query import RunFilters, translate


def _key(organization: str = "o_1", page: int = 1, statuses: tuple[str, ...] = (), gzip_accepted: bool = False) -> bytes:
    return Answers.key(translate(organization, RunFilters(statuses), page, 10, 10_000), gzip_accepted)


def test_an_answer_lives_for_its_time_only() -> None:
    now = [0.0]
    answers = Answers(seconds=0.5, max_bytes=1000, clock=lambda: now[0])
    answers.put(_key(), Answer(b"[1]"))
    now[0] = 0.49
    assert answers.get(_key()) == Answer(b"[1]")
    now[0] = 0.5
    assert answers.get(_key()) is None


def test_the_organization_the_filters_and_the_page_are_all_in_the_key() -> None:
    answers = Answers(seconds=10, max_bytes=1000)
    answers.put(_key(), Answer(b"[1]"))
    assert [answers.get(k) for k in (_key("o_2"), _key(page=2), _key(statuses=("failed",)), _key(gzip_accepted=True))] \
        == [None, None, None, None]
    assert answers.get(_key()) == Answer(b"[1]")


def test_bounded_in_bytes_and_off_at_zero() -> None:
    answers = Answers(seconds=10, max_bytes=10)
    answers.put(_key(page=1), Answer(b"123456"))
    answers.put(_key(page=2), Answer(b"123456"))  # 12 bytes would not fit: the older answer goes
    assert answers.get(_key(page=1)) is None and answers.get(_key(page=2)) == Answer(b"123456")
    answers.put(_key(page=3), Answer(b"x" * 11))  # larger than the whole cache: not kept, nothing evicted for it
    assert answers.get(_key(page=3)) is None and answers.get(_key(page=2)) == Answer(b"123456")
    off = Answers(seconds=0, max_bytes=1000)
    off.put(_key(), Answer(b"[1]"))
    assert off.get(_key()) is None


def test_an_answer_is_compressed_once_for_clients_that_accept_gzip_unless_small() -> None:
    runs = b'[{"workflow_run_id": "wr_1"}' + b', {"workflow_run_id": "wr_1"}' * 100 + b"]"
    packed = Answer.of(runs, gzip_accepted=True, minimum_bytes=1024)
    assert packed.gzipped and gzip.decompress(packed.body) == runs and len(packed.body) * 5 < len(runs)
    response = packed.response()
    assert response.headers["content-encoding"] == "gzip" and response.headers["vary"] == "Accept-Encoding"
    assert response.body == packed.body  # as kept: not compressed again
    plain = [Answer.of(runs, gzip_accepted=False, minimum_bytes=1024), Answer.of(runs, gzip_accepted=True,
                                                                                 minimum_bytes=len(runs) + 1)]
    assert all(a == Answer(runs) and "content-encoding" not in a.response().headers for a in plain)
