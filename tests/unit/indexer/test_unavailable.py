"""Values an update left out: carried from what is held, repaired by older events."""

from __future__ import annotations

from runsearch.indexer import unavailable
from tests.unit.indexer.events import RUN, change


def test_the_newest_older_version_wins_a_repair() -> None:
    """Versions 10 (a), 15 (b) and 20 (placeholder) arrive 20, 15, 10: the value is b's, as in the source."""
    held = {"headers_text": None, "response": {"extra_http_headers": None}, "carried": {"extra_http_headers": -1}}
    for lsn, value in ((15, '{"b": "b"}'), (10, '{"a": "a"}')):
        data = change("workflow_runs", {**RUN, "extra_http_headers": value}, lsn).data
        held = unavailable.repair("workflow_runs", held, lsn, data, frozenset()) or held
    assert held["headers_text"] == '{"b": "b"}' and held["carried"] == {"extra_http_headers": 15}


def test_a_required_column_left_out_reads_as_empty_until_carried() -> None:
    assert unavailable.stand_in("workflow_runs", "status") == ""
    assert unavailable.stand_in("workflow_runs", "failure_reason") is None
    data = change("organization_auth_tokens", {"id": "k", "organization_id": "o", "token_type": "api", "token": "t",
                                                "valid": True}, 5).data
    previous = {**data, "token_sha256": "held-digest"}
    carried, sources = unavailable.carry("organization_auth_tokens", data, frozenset({"token"}), previous, 3)
    assert carried["token_sha256"] == "held-digest" and sources == {"token": 3} and data["token_sha256"] != "held-digest"
    assert unavailable.unknown(unavailable.carry("organization_auth_tokens", data, frozenset({"token"}), None, 0)[1]) == ["token"]
