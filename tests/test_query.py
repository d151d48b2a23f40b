"""Query translation: one bool filter, literal substring patterns, paging and the offset window."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, strategies as st

from api.query import REGEXP_OPERATORS, SORT, PageTooDeep, RunFilters, substring_pattern, translate
from runsearch.searchable import searchable


def regexp_matches(pattern: str, text: str) -> bool:
    """Lucene regular-expression semantics for what substring patterns may hold: `.*` any run, a backslash
    makes the next character literal, an operator anywhere else is a defect."""
    regex, chars = "", iter(pattern)
    for c in chars:
        if c == "\\":
            regex += re.escape(next(chars))
        elif c == ".":
            assert next(chars) == "*", pattern
            regex += ".*"
        else:
            assert c not in REGEXP_OPERATORS, f"unescaped operator {c!r} in {pattern!r}"
            regex += re.escape(c)
    return re.fullmatch(regex, text, re.S) is not None


@given(term=st.text(min_size=1, max_size=6), text=st.text(max_size=12) | st.sampled_from(['.*+?|{}[]()"#@&<>~^$']))
def test_pattern_matches_exactly_the_texts_containing_the_term(term: str, text: str) -> None:
    if "\uffff" in term + text:
        return  # the stand-in itself is excluded by translate (see runsearch.searchable)
    assert regexp_matches(substring_pattern(term), searchable(text)) == (term in text)


def test_every_clause_is_a_filter_scoped_to_the_organization() -> None:
    body = translate("o_1", RunFilters(("failed", "terminated", "failed"), "a*b", "LOGIN_FAILED"), 3, 20, 10_000)
    clauses = body["query"]["bool"]["filter"]
    assert list(body["query"]["bool"]) == ["filter"]
    assert clauses[:2] == [{"term": {"organization_id": "o_1"}}, {"term": {"listed": True}}]
    assert {"terms": {"status": ["failed", "terminated"]}} in clauses
    assert {"term": {"error_codes": "LOGIN_FAILED"}} in clauses
    assert clauses[-1]["regexp"]["search_text"]["value"] == ".*a\\*b.*"  # one clause, however long the term
    assert (body["from"], body["size"], body["sort"]) == (40, 20, SORT)


def test_no_filters_means_organization_and_visibility_only() -> None:
    assert len(translate("o", RunFilters(), 1, 10, 10_000)["query"]["bool"]["filter"]) == 2


def test_stand_in_character_matches_nothing() -> None:
    assert {"match_none": {}} in translate("o", RunFilters(search_key="x\uffff"), 1, 10, 10_000)["query"]["bool"]["filter"]


@pytest.mark.parametrize("page, size, ok", [(1000, 10, True), (1001, 10, False), (1, 10_000, True), (1, 10_001, False)])
def test_offset_window(page: int, size: int, ok: bool) -> None:
    if ok:
        translate("o", RunFilters(), page, size, 10_000)
    else:
        with pytest.raises(PageTooDeep, match="10000"):
            translate("o", RunFilters(), page, size, 10_000)
