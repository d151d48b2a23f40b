"""The connector as the tests use it: placeholders for unchanged large values, before images by replica
identity, tombstones, deletes compacted down to their tombstone."""

from __future__ import annotations

import orjson

from runsearch.demo.dataset import RowChange
from runsearch.demo.events import Encoder
from runsearch.indexer.decode import PLACEHOLDER

ROW = {"workflow_run_id": "wr_1", "workflow_id": "w", "workflow_permanent_id": "wp", "organization_id": "o",
       "status": "running", "extra_http_headers": "x" * 3000, "failure_reason": "y" * 3000, "created_at": 1, "modified_at": 1}


def sent(encoder: Encoder, *changes: RowChange) -> list[tuple[dict, dict | None]]:
    return [(orjson.loads(k), None if v is None else orjson.loads(v)) for c in changes for k, v in encoder.messages(c)]


def test_an_update_sends_the_placeholder_for_large_values_it_did_not_change() -> None:
    encoder = Encoder(toast_bytes=2000)
    (_, create), (_, update) = sent(encoder, RowChange("workflow_runs", "c", ROW, 1),
                                    RowChange("workflow_runs", "u", {**ROW, "failure_reason": "z" * 3000}, 2))
    assert create is not None and create["after"]["extra_http_headers"] == "x" * 3000
    assert update is not None and update["after"]["extra_http_headers"] == PLACEHOLDER
    assert update["after"]["failure_reason"] == "z" * 3000 and update["before"] is None


def test_full_identity_sends_the_old_row_and_a_delete_is_followed_by_its_tombstone_unless_compacted() -> None:
    full = sent(Encoder(identity="full"), RowChange("workflow_runs", "c", ROW, 1),
                RowChange("workflow_runs", "d", {"workflow_run_id": "wr_1"}, 2))
    assert full[1][1] is not None and full[1][1]["before"] == ROW and full[2] == ({"workflow_run_id": "wr_1"}, None)
    default = sent(Encoder(), RowChange("workflow_runs", "d", {"workflow_run_id": "wr_1"}, 2))
    assert default[0][1] is not None and default[0][1]["before"] == {"workflow_run_id": "wr_1"} and default[1][1] is None
    compacted = sent(Encoder(tombstone_only=lambda c: True), RowChange("workflow_runs", "d", {"workflow_run_id": "wr_1"}, 2))
    assert compacted == [({"workflow_run_id": "wr_1"}, None)]
