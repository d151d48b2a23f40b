"""Decoding Debezium messages: both envelope forms, every column encoding, and every kind of poison."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from runsearch.demo.dataset import RowChange
from runsearch.demo.events import messages
from runsearch.digest import sha256
from runsearch.indexer.decode import Poison, decode

RUN = {
    "workflow_run_id": "wr_1", "workflow_id": "w_1", "workflow_permanent_id": "wpid_1", "organization_id": "o_1",
    "status": "failed", "extra_http_headers": '{"X-Env":  "Prod"}', "cdp_connect_headers": '{"a": "b"}',
    "proxy_location": "US-CA", "failure_category": '[{"category": "LOGIN"}]',
    "script_run": '{"script_id": "s_1", "ai_fallback_triggered": true}', "max_screenshot_scrolling_times": 7,
    "credits_used": None, "cached_credits_used": 3, "ignore_inherited_workflow_system_prompt": None,
    "trigger_type": "api", "queued_at": None, "started_at": 1_767_225_600_000_001,
    "created_at": 1_767_225_600_123_456, "modified_at": 1_767_225_600_000_000, "a_column_from_the_future": [1, 2],
}


def one(table: str, row: dict, op: str = "c", schemas: bool = False):
    key, value = next(messages(RowChange(table, op, row, 42), schemas=schemas, ts_ms=99))
    return decode(table, key, value)


@pytest.mark.parametrize("schemas", [False, True])
def test_run_columns_render_as_the_response(schemas: bool) -> None:
    change = one("workflow_runs", RUN, schemas=schemas)
    assert (change.table, change.key, change.kind, change.lsn, change.ts_ms) == ("workflow_runs", ("wr_1",), "upsert", 42, 99)
    run = change.data["response"]
    assert run["created_at"] == "2026-01-01T00:00:00.123456"  # microseconds kept, naive UTC as the platform's
    assert run["modified_at"] == "2026-01-01T00:00:00" and run["started_at"] == "2026-01-01T00:00:00.000001"
    assert run["extra_http_headers"] == {"X-Env": "Prod"} and run["cdp_connect_headers"] == {"a": "b"}
    assert run["failure_category"] == [{"category": "LOGIN"}]
    assert run["script_run"] == {"ai_fallback_triggered": True, "script_id": "s_1", "script_revision_id": None}
    assert run["max_screenshot_scrolls"] == 7 and "max_screenshot_scrolling_times" not in run
    assert (run["credits_used"], run["cached_credits_used"]) == (0, 3)
    assert run["ignore_inherited_workflow_system_prompt"] is False
    assert run["proxy_location"] == "US-CA" and run["trigger_type"] == "api" and run["workflow_title"] is None
    assert change.data["headers_text"] == '{"X-Env":  "Prod"}'  # verbatim, for searching as raw text
    assert change.data["created_at_us"] == 1_767_225_600_123_456


def test_proxy_location_object_renders_as_object() -> None:
    run = one("workflow_runs", {**RUN, "proxy_location": '{"country": "US", "subdivision": "CA"}'}).data["response"]
    assert run["proxy_location"] == {"country": "US", "subdivision": "CA", "city": None}


def test_delete_has_primary_key_only_and_its_tombstone_is_a_delete_of_its_key() -> None:
    (key, value), (tomb_key, tombstone) = messages(RowChange("workflow_run_parameters", "d",
                                                             {"workflow_run_id": "wr_1", "workflow_parameter_id": "p_1",
                                                              "value": "x"}, 7))
    assert orjson.loads(value)["before"]["value"] is None
    change = decode("workflow_run_parameters", key, value)
    assert (change.kind, change.key, change.data) == ("delete", ("wr_1", "p_1"), None)
    tomb = decode("workflow_run_parameters", tomb_key, tombstone)
    assert (tomb.kind, tomb.key, tomb.lsn, tomb.data) == ("tombstone", ("wr_1", "p_1"), 0, None)
    wrapped_key = orjson.dumps({"schema": {}, "payload": {"workflow_run_id": "wr_9"}})
    assert decode("workflow_runs", wrapped_key, orjson.dumps({"schema": {}, "payload": None})).key == ("wr_9",)
    with pytest.raises(Poison, match="tombstone without a message key"):
        decode("workflow_runs", None, None)


def test_snapshot_read_is_an_upsert() -> None:
    assert one("workflows", {"workflow_id": "w_1", "title": "T"}, op="r").kind == "upsert"


def test_task_errors_give_string_codes_only() -> None:
    errors = '[{"error_code": "B"}, {"error_code": "A"}, {"error_code": 3}, "x", {"reasoning": "r"}, {"error_code": "A"}]'
    assert one("tasks", {"task_id": "t", "workflow_run_id": "wr_1", "errors": errors}).data["codes"] == ["A", "B"]


def test_error_codes_longer_than_any_filter_are_not_kept() -> None:
    """The API takes error_code filters of up to 500 characters; a longer code could never match one."""
    errors = orjson.dumps([{"error_code": "E" * 500}, {"error_code": "E" * 501}, {"error_code": "😀" * 10_000}]).decode()
    assert one("tasks", {"task_id": "t", "workflow_run_id": "wr_1", "errors": errors}).data["codes"] == ["E" * 500]


def test_tokens_keep_only_a_digest() -> None:
    data = one("organization_auth_tokens", {"id": "t", "organization_id": "o", "token_type": "api", "token": "secret-x",
                                            "valid": True, "deleted_at": None}).data
    assert data == {"token_sha256": sha256("secret-x"), "organization_id": "o", "active": True}
    assert "secret-x" not in orjson.dumps(data).decode()


def envelope(after: dict | None = None, **over) -> bytes:
    return orjson.dumps({"before": None, "after": after if after is not None else RUN, "op": "c",
                         "source": {"lsn": 5, "ts_ms": 1}, **over})


KEY = b'{"workflow_run_id": "wr_1"}'


@pytest.mark.parametrize("table, key, value, reason", [
    ("workflow_runs", KEY, b"{not json", "not valid JSON"),
    ("workflow_runs", KEY, b'{"op": "c", "after": {"x": "\xff"}}', "not valid JSON"),
    ("workflow_runs", KEY, b"[1, 2]", "not a Debezium envelope"),
    ("workflow_runs", KEY, envelope(op="x"), "unknown op"),
    ("tasks", None, orjson.dumps({"op": "t", "ts_ms": 1, "source": {"lsn": 9, "table": "tasks"}}),
     r"a TRUNCATE of tasks \(op 't'\): it names no row"),
    ("workflow_runs", KEY, envelope(source={"lsn": "5"}), "source.lsn"),
    ("workflow_runs", KEY, envelope(source={}), "source.lsn"),
    ("workflow_runs", KEY, envelope({**RUN, "workflow_run_id": None}), "primary-key"),
    ("workflow_runs", KEY, envelope({**RUN, "credits_used": "12"}), "credits_used"),
    ("workflow_runs", KEY, envelope({**RUN, "created_at": "2026-01-01"}), "created_at"),
    ("workflow_runs", KEY, envelope({**RUN, "status": "s" * 256}), "status: Value error, longer than 255"),
    ("workflow_runs", KEY, envelope({**RUN, "extra_http_headers": "{oops"}), "extra_http_headers"),
    ("workflow_runs", KEY, envelope({**RUN, "extra_http_headers": '{"a": 1}'}), "extra_http_headers"),
    ("workflow_runs", b'{"workflow_run_id": "wr_2"}', envelope(), "does not match"),
    ("workflow_runs", b"nope", envelope(), "key is not valid JSON"),
    ("tasks", b'{"task_id": "t"}', orjson.dumps({"op": "c", "after": {"task_id": "t", "errors": "{}"},
                                                 "source": {"lsn": 1}}), "not a JSON array"),
    ("audit_log", KEY, envelope(), "unknown table"),
    ("workflow_runs", KEY, envelope(source={"lsn": 5, "table": "tasks"}), "event of table 'tasks' on the topic of table"),
    ("workflow_runs", None, envelope({**RUN, "workflow_run_id": "r" * 256}), "longer than 255 bytes"),
    ("workflow_runs", None, envelope({**RUN, "workflow_run_id": "é" * 128}), "longer than 255 bytes"),  # 256 bytes
    ("workflow_runs", KEY, envelope({**RUN, "organization_id": "é" * 128}), "organization_id: Value error, longer than 255"),
    ("tasks", b'{"task_id": "t"}', orjson.dumps({"op": "c", "after": {"task_id": "t", "workflow_run_id": "r" * 300},
                                                 "source": {"lsn": 1}}), "workflow_run_id"),
])
def test_poison_has_a_reason(table: str, key: bytes | None, value: bytes, reason: str) -> None:
    with pytest.raises(Poison, match=reason):
        decode(table, key, value)


def test_reasons_never_quote_a_token() -> None:
    row = {"id": "t", "organization_id": "o", "token_type": "api", "token": "very-secret", "valid": "yes"}
    with pytest.raises(Poison) as err:
        decode("organization_auth_tokens", b'{"id": "t"}', envelope(row))
    assert "very-secret" not in str(err.value) and "valid" in str(err.value)


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3))
ENVELOPES = st.fixed_dictionaries({"op": st.sampled_from(["c", "u", "d", "r", "z"]),
                                   "after": st.one_of(JSON, st.fixed_dictionaries({}, optional={c: JSON for c in RUN})),
                                   "before": JSON, "source": st.one_of(JSON, st.fixed_dictionaries({"lsn": JSON}))})


@given(key=st.one_of(st.none(), st.binary(max_size=40), JSON.map(orjson.dumps)),
       value=st.one_of(st.none(), st.binary(max_size=200), JSON.map(orjson.dumps), ENVELOPES.map(orjson.dumps)),
       table=st.sampled_from(["workflow_runs", "tasks", "workflows", "nope"]))
def test_any_input_decodes_or_is_poison(key: bytes | None, value: bytes | None, table: str) -> None:
    """Nothing crashes the decoder: every input is Poison or a change that holds together."""
    refusal = None
    try:
        change = decode(table, key, value)
    except Poison as err:
        refusal = str(err)
    if refusal is not None:
        assert refusal  # every refusal says why
        return
    assert change.table == table and change.key and all(isinstance(k, str) and k for k in change.key)
    assert (change.kind == "upsert") == (change.data is not None)
    assert (change.kind == "tombstone") == (value is None or orjson.loads(value).get("payload", 0) is None)
    assert change.lsn >= 0 and (change.lsn == 0 or change.kind != "tombstone")
    if change.data is not None:
        orjson.dumps(change.data)  # what the index keeps is JSON


def test_out_of_range_timestamps_render_as_the_nearest_instant_and_sort_by_their_microseconds() -> None:
    infinite = {**RUN, "created_at": 9223372036825200000, "started_at": -9223372036832400000,
                "finished_at": 568_971_820_800_000_000}
    change = one("workflow_runs", infinite)
    run = change.data["response"]
    assert (run["created_at"], run["started_at"], run["finished_at"]) == \
        ("9999-12-31T23:59:59.999999", "0001-01-01T00:00:00", "9999-12-31T23:59:59.999999")
    assert change.data["created_at_us"] == 9223372036825200000


def test_values_the_contract_does_not_know_yet_are_kept_as_stored() -> None:
    run = one("workflow_runs", {**RUN, "status": "needs_review", "trigger_type": "email", "proxy_location": "MARS-1",
                                "run_with": "hybrid"}).data["response"]
    assert (run["status"], run["trigger_type"], run["proxy_location"], run["run_with"]) == \
        ("needs_review", "email", "MARS-1", "hybrid")


def test_missing_optional_columns_are_null() -> None:
    run = one("workflow_runs", {c: RUN[c] for c in ("workflow_run_id", "workflow_id", "workflow_permanent_id",
                                                    "organization_id", "status", "created_at", "modified_at")})
    assert run.data["response"]["extra_http_headers"] is None and run.data["headers_text"] is None


def test_placeholders_are_unavailable_columns_in_any_text_column_and_a_custom_placeholder_works() -> None:
    row = {**RUN, "extra_http_headers": "__debezium_unavailable_value", "status": "__debezium_unavailable_value"}
    change = one("workflow_runs", row, op="u")
    assert change.unavailable == {"extra_http_headers", "status"} and change.data["headers_text"] is None
    key, value = next(messages(RowChange("workflow_runs", "u", {**RUN, "failure_reason": "<none>"}, 42)))
    assert decode("workflow_runs", key, value, placeholder="<none>").unavailable == {"failure_reason"}
    with pytest.raises(Poison, match="credits_used"):  # the placeholder in a number column is no placeholder
        one("workflow_runs", {**RUN, "credits_used": "__debezium_unavailable_value"})


@pytest.mark.parametrize("lsn, ok", [(2**63 - 1, True), (2**63, False)])
def test_an_lsn_past_a_signed_long_is_poison(lsn: int, ok: bool) -> None:
    value = orjson.dumps({"op": "c", "after": RUN, "source": {"lsn": lsn}})
    if ok:
        assert decode("workflow_runs", KEY, value).lsn == lsn
    else:
        with pytest.raises(Poison, match="beyond"):
            decode("workflow_runs", KEY, value)


def test_integers_past_64_bits_are_poison() -> None:
    with pytest.raises(Poison, match="credits_used"):
        one("workflow_runs", {**RUN, "credits_used": 2**63})
