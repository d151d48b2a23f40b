"""Hand-made rows for the API tests: each one exercises a rule of the endpoint's semantics."""

from __future__ import annotations

import json
from typing import Any

from runsearch.demo.dataset import History, api_key

BASE = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in microseconds
ORG_A, ORG_B = "o_alpha", "o_beta"


def run_row(run_id: str, org: str, created_s: float, **extra: Any) -> dict[str, Any]:
    created = BASE + int(created_s * 1_000_000)
    row = {"workflow_run_id": run_id, "workflow_id": f"w_{org}", "workflow_permanent_id": f"wpid_{org}",
           "organization_id": org, "status": "completed", "parent_workflow_run_id": None, "copilot_session_id": None,
           "extra_http_headers": None, "proxy_location": None, "created_at": created, "modified_at": created}
    row.update(extra)
    return row


def build(secret: str) -> tuple[History, dict[str, str]]:
    """The history, and named API keys (valid and invalid in every way)."""
    h = History()
    keys = {"a": api_key(ORG_A, secret), "b": api_key(ORG_B, secret), "a_revoked": api_key(ORG_A, secret + "r"),
            "a_deleted": api_key(ORG_A, secret + "d"), "a_unknown": api_key(ORG_A, secret + "u"),
            "a_wrong_signature": api_key(ORG_A, "another-secret-of-sufficient-length-000"),
            "b_row_with_a_subject": api_key(ORG_A, secret + "x")}
    tokens = [("t_a", ORG_A, keys["a"], True, None), ("t_b", ORG_B, keys["b"], True, None),
              ("t_ar", ORG_A, keys["a_revoked"], False, None), ("t_ad", ORG_A, keys["a_deleted"], True, BASE),
              ("t_bx", ORG_B, keys["b_row_with_a_subject"], True, None)]
    for tid, org, token, valid, deleted in tokens:
        h.add("organization_auth_tokens", "c", {"id": tid, "organization_id": org, "token_type": "api", "token": token,
                                                "valid": valid, "deleted_at": deleted})
    for org in (ORG_A, ORG_B):
        h.add("workflows", "c", {"workflow_id": f"w_{org}", "title": f"Nightly export {org}"})
        h.add("workflow_parameters", "c", {"workflow_parameter_id": f"p_login_{org}", "workflow_id": f"w_{org}",
                                           "key": "prod_credential", "description": "Production Login URL",
                                           "deleted_at": None})
        h.add("workflow_parameters", "c", {"workflow_parameter_id": f"p_note_{org}", "workflow_id": f"w_{org}",
                                           "key": "note", "description": None, "deleted_at": None})
    odd_headers = json.dumps({"X-Trace": "Ab%_*?\\Zed", "Accept-Language": "ÉCOLE"}, ensure_ascii=False)
    runs = [
        run_row("wr_a01", ORG_A, 1, status="failed", extra_http_headers=odd_headers),
        run_row("wr_a02", ORG_A, 2, status="terminated"),
        run_row("wr_a03", ORG_A, 3, status="running"),
        run_row("wr_a04", ORG_A, 4, status="failed", parent_workflow_run_id="wr_a01"),  # child: never listed
        run_row("wr_a05", ORG_A, 5, status="failed", copilot_session_id="cs_1"),  # copilot: never listed
        run_row("wr_a06", ORG_A, 6, status="queued"),
        run_row("wr_a07", ORG_A, 6, status="queued"),  # same created_at as wr_a06: id breaks the tie
        run_row("wr_a08", ORG_A, 7, status="completed", extra_http_headers="{}"),
        run_row("wr_b01", ORG_B, 8, status="failed", extra_http_headers=odd_headers),
    ]
    for row in runs:
        h.add("workflow_runs", "c", row)
    values = [("wr_a01", "p_login_o_alpha", "https://login.example.com/ÉCOLE"),
              ("wr_a02", "p_note_o_alpha", "50% off_sale *now*"),
              ("wr_a03", "p_login_o_alpha", "plain"),
              ("wr_a04", "p_note_o_alpha", "child-only-marker"),
              ("wr_a05", "p_note_o_alpha", "copilot-only-marker"),
              ("wr_a06", "p_note_o_alpha", "naïve Straße İstanbul"),
              ("wr_a08", "p_note_o_alpha", "x" * 600 + " " + "ab" * 300),  # matchers of long repetitive terms
              ("wr_b01", "p_login_o_beta", "https://login.example.com/ÉCOLE")]
    for run_id, pid, value in values:
        h.add("workflow_run_parameters", "c", {"workflow_run_id": run_id, "workflow_parameter_id": pid, "value": value})
    tasks = [("tk1", "wr_a01", [{"error_code": "LOGIN_FAILED"}, {"reasoning": "no code"}]),
             ("tk2", "wr_a02", [{"error_code": "login_failed"}]),
             ("tk3", "wr_a03", [{"error_code": "CAPTCHA_DETECTED"}, {"error_code": 42}]),
             ("tk4", "wr_a06", []),
             ("tk5", "wr_b01", [{"error_code": "LOGIN_FAILED"}])]
    for tid, run_id, errors in tasks:
        h.add("tasks", "c", {"task_id": tid, "workflow_run_id": run_id, "errors": json.dumps(errors)})
    return h, keys


def soft_delete_definition(h: History, org: str) -> None:
    """Soft-delete the `prod_credential` definition of `org`, after its runs were indexed."""
    h.add("workflow_parameters", "u", {"workflow_parameter_id": f"p_login_{org}", "workflow_id": f"w_{org}",
                                       "key": "prod_credential", "description": "Production Login URL",
                                       "deleted_at": BASE + 1})
