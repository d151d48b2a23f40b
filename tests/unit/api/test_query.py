"""Query translation: one bool filter, exact substring search through n-grams, paging and the offset window."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from runsearch import mappings
from runsearch.api.query import (
    CURSOR_PATTERN,
    SORT,
    BadCursor,
    OtherSchema,
    PageTooDeep,
    RunFilters,
    after,
    decode_cursor,
    encode_cursor,
    run_responses,
    search_clause,
    translate,
)
from tests.model import fold

RUNS = mappings.body("runs")
ANALYSIS = RUNS["settings"]["analysis"]
FIELDS = RUNS["mappings"]["properties"]


def analyse(analyzer: str, text: str) -> list[tuple[int, str]]:
    """(position, token) as OpenSearch's `ngram` tokenizer emits them: per start offset, each length from
    min to max, every token one position after the previous; then lowercased."""
    tokenizer = ANALYSIS["tokenizer"][ANALYSIS["analyzer"][analyzer]["tokenizer"]]
    assert tokenizer["type"] == "ngram" and ANALYSIS["analyzer"][analyzer]["filter"] == ["lowercase"]
    grams = [text[start:start + n] for start in range(len(text))
             for n in range(tokenizer["min_gram"], tokenizer["max_gram"] + 1) if start + n <= len(text)]
    return [(position, fold(gram)) for position, gram in enumerate(grams)]


def field_analyzer(field: str) -> str:
    name, _, sub = field.partition(".")
    return (FIELDS[name]["fields"][sub] if sub else FIELDS[name])["analyzer"]


def matches(clause: dict[str, Any], text: str) -> bool:
    """Whether one indexed text satisfies a `match_phrase` or an all-terms `match` clause."""
    (kind, spec), = clause.items()
    (field, query), = spec.items()
    analyzer = field_analyzer(field)
    wanted, present = analyse(analyzer, query["query"]), analyse(analyzer, text)
    if kind == "match":
        assert query["operator"] == "and"
        return {t for _, t in wanted} <= {t for _, t in present}
    assert kind == "match_phrase" and wanted
    tokens = set(present)
    return any(all((start + p, t) in tokens for p, t in wanted) for start in range(len(present)))


FEW = st.sampled_from("aAb ")  # near misses (shared n-grams out of order) are common over a small alphabet


@given(term=st.text(min_size=1, max_size=6) | st.text(FEW, min_size=1, max_size=6),
       text=st.text(max_size=12) | st.text(FEW, max_size=14)
       | st.sampled_from(['.*+?|{}[]()"#@&<>~^$\\', "ÉCOLE Straße", "İstanbul"]))
@example(term="aab", text="aa ab")  # every n-gram of the term, but not in a row
@settings(max_examples=2_000)
def test_search_clause_matches_exactly_the_texts_containing_the_term(term: str, text: str) -> None:
    assert matches(search_clause(term), text) == (fold(term) in fold(text))


@pytest.mark.parametrize("term", ["ab", "abc", "abcd"])
def test_search_finds_a_term_at_either_end_and_not_out_of_order(term: str) -> None:
    clause = search_clause(term)
    assert matches(clause, f"{term}x") and matches(clause, f"x{term}") and matches(clause, term.upper())
    assert not matches(clause, term[::-1]) and not matches(clause, term[:-1] + " " + term[-1])


def test_every_clause_is_a_filter_scoped_to_the_organization() -> None:
    body = translate("o_1", RunFilters(("failed", "terminated", "failed"), "a*b", "LOGIN_FAILED"), 3, 20, 10_000)
    clauses = body["query"]["bool"]["filter"]
    assert list(body["query"]["bool"]) == ["filter"]
    assert clauses[:2] == [{"term": {"organization_id": "o_1"}}, {"term": {"listed": True}}]
    assert {"terms": {"status": ["failed", "terminated"]}} in clauses
    assert {"term": {"error_codes": "LOGIN_FAILED"}} in clauses
    assert clauses[-1] == search_clause("a*b")  # one clause, however long the term
    assert (body["from"], body["size"], body["sort"]) == (40, 20, SORT)


def test_no_filters_means_organization_and_visibility_only() -> None:
    assert len(translate("o", RunFilters(), 1, 10, 10_000)["query"]["bool"]["filter"]) == 2


@pytest.mark.parametrize("page, size, ok", [(1000, 10, True), (1001, 10, False), (1, 10_000, True), (1, 10_001, False)])
def test_offset_window(page: int, size: int, ok: bool) -> None:
    if ok:
        body = translate("o", RunFilters(), page, size, 10_000)
        assert (body["from"], body["size"]) == ((page - 1) * size, size) and body["from"] + body["size"] <= 10_000
    else:
        with pytest.raises(PageTooDeep, match="10000"):
            translate("o", RunFilters(), page, size, 10_000)


@pytest.mark.parametrize("values", [[2**62, "wr_1"], [0, ""], [-(2**63), "wr_é/🚀"]])
def test_a_cursor_is_opaque_text_that_comes_back_as_the_sort_values(values: list[Any]) -> None:
    cursor = encode_cursor(values)
    assert re.fullmatch(CURSOR_PATTERN, cursor) and decode_cursor(cursor) == values
    body = after("o_1", RunFilters(("failed",)), cursor, 50)
    assert body["search_after"] == values and body["sort"] == SORT and body["size"] == 50
    assert body["query"] == translate("o_1", RunFilters(("failed",)), 1, 50, 10_000)["query"]
    assert "search_after" not in after("o_1", RunFilters(), None, 50)


@pytest.mark.parametrize("cursor", ["", "not base64!", encode_cursor([1]), encode_cursor(["1", "wr"]),
                                    encode_cursor({"a": 1}), "eyJ"])  # type: ignore[arg-type]
def test_anything_else_is_not_a_cursor(cursor: str) -> None:
    with pytest.raises(BadCursor):
        decode_cursor(cursor)


def test_responses_are_read_from_unpadded_base64_doc_values_and_a_hit_without_them_is_another_schema() -> None:
    texts = ['{"a":1}', '{"ab":"é"}', '{"abc":[]}']  # 7, 11 and 10 bytes: every length modulo 3
    hits = [{"_index": "runs-v1", "fields": {"response": [base64.b64encode(t.encode()).decode().rstrip("=")]}}
            for t in texts]
    assert run_responses({"hits": {"hits": hits}}) == [t.encode() for t in texts]
    assert run_responses({}) == []
    with pytest.raises(OtherSchema):
        run_responses({"hits": {"hits": [*hits, {"_index": "runs-v0"}]}})
