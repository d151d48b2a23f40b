"""Tenancy: an organization's key shows that organization's runs and nothing else, whatever the data and
the filters; a revoked or deleted key stops working within the cache time; secrets never reach a log.

Real Kafka, the real indexer, real OpenSearch, the real app. Every hypothesis example adds organizations
with look-alike data to the same index, so each query runs among all the others' runs.
"""

from __future__ import annotations

import io
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from runsearch import logs
from runsearch.api.app import create_app
from runsearch.demo.dataset import History, RowChange, api_key, final_rows
from runsearch.indexer.consumer import Indexer
from runsearch.logs import JsonFormatter
from runsearch.settings import Settings
from tests.conftest import isolated_settings
from tests.harness import drain, produce, refresh
from tests.model import expected, search

pytestmark = pytest.mark.integration

WORDS = ["alpha", "Beta", "ÉCOLE", "a*b", "50%", "x_y", "back\\slash", "🚀", "shared words"]
STATUSES = ["created", "running", "failed", "completed"]
CODES = ["LOGIN_FAILED", "CAPTCHA_DETECTED"]
CACHE_SECONDS = 1.0


@dataclass
class Tenants:
    settings: Settings
    indexer: Indexer
    client: TestClient
    log: io.StringIO
    secrets: list[str] = field(default_factory=list)  # every key, header value and parameter value produced

    def publish(self, changes: list[RowChange]) -> None:
        produce(self.settings, changes)
        drain(self.indexer)
        refresh(self.settings)

    def status(self, key: str, **params: object) -> tuple[int, list[dict]]:
        response = self.client.get("/v1/agents/runs", params=params, headers={"x-api-key": key})
        return response.status_code, response.json() if response.status_code == 200 else []


@pytest.fixture(scope="module")
def tenants(servers: dict[str, str]) -> Iterator[Tenants]:
    settings = isolated_settings(servers).model_copy(update={"auth_cache_seconds": CACHE_SECONDS})
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    # The processes' own logging (client libraries at WARNING), with runsearch's loggers at DEBUG: the most
    # the indexer and the API could ever log.
    logs.setup("DEBUG")
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    indexer = Indexer(settings)
    try:
        with TestClient(create_app(settings)) as client:
            yield Tenants(settings, indexer, client, log)
    finally:
        indexer.close()
        root.handlers[:], level = saved
        root.setLevel(level)


@st.composite
def organizations(draw: st.DrawFn, secret: str) -> tuple[History, dict[str, str], list[str]]:
    """2-4 organizations whose runs look alike: same words, same shapes, ids differing only by a number."""
    tag = uuid.uuid4().hex[:8]
    h, keys, secrets = History(), {}, []
    for i in range(draw(st.integers(2, 4))):
        org = f"org_{tag}_{i}"
        keys[org] = api_key(org, secret)
        h.add("organization_auth_tokens", "c", {"id": f"tok_{org}", "organization_id": org, "token_type": "api",
                                                "token": keys[org], "valid": True, "deleted_at": None})
        h.add("workflows", "c", {"workflow_id": f"w_{org}", "title": "Same title"})
        for p in range(2):
            h.add("workflow_parameters", "c", {"workflow_parameter_id": f"p_{org}_{p}", "workflow_id": f"w_{org}",
                                               "key": draw(st.sampled_from(WORDS)), "description": draw(st.sampled_from(WORDS)),
                                               "deleted_at": None})
        for r in range(draw(st.integers(0, 6))):
            run_id = f"wr_{tag}_{i}{r}"
            header = f"hdr-{tag}-{i}{r}"
            secrets.append(header)
            h.add("workflow_runs", "c", {
                "workflow_run_id": run_id, "workflow_id": f"w_{org}", "workflow_permanent_id": f"wp_{org}",
                "organization_id": org, "status": draw(st.sampled_from(STATUSES)), "parent_workflow_run_id": None,
                "copilot_session_id": None,
                "extra_http_headers": orjson.dumps({"X-Secret": header, "X-Word": draw(st.sampled_from(WORDS))}).decode(),
                "created_at": draw(st.integers(1, 50)), "modified_at": 1})
            for p in range(2):
                value = f"{draw(st.sampled_from(WORDS))} val-{tag}-{i}{r}{p}"
                secrets.append(f"val-{tag}-{i}{r}{p}")
                h.add("workflow_run_parameters", "c", {"workflow_run_id": run_id, "workflow_parameter_id": f"p_{org}_{p}",
                                                       "value": value})
            codes = draw(st.lists(st.sampled_from(CODES), max_size=2))
            h.add("tasks", "c", {"task_id": f"t_{run_id}", "workflow_run_id": run_id,
                                 "errors": orjson.dumps([{"error_code": c} for c in codes]).decode()})
    return h, keys, secrets + list(keys.values())


FILTERS = st.fixed_dictionaries({}, optional={
    "status": st.lists(st.sampled_from(STATUSES), min_size=1, max_size=2),
    "search_key": st.one_of(st.sampled_from([*WORDS, "wr_", "org_", "hdr-", "val-", "X-Secret", "a", "%", "_", "\\"]),
                            st.text(max_size=3)),
    "error_code": st.sampled_from(CODES),
})


@hyp_settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])
@given(data=st.data())
def test_a_key_sees_its_own_organizations_runs_only(tenants: Tenants, data: st.DataObject) -> None:
    history, keys, secrets = data.draw(organizations(tenants.settings.jwt_secret.get_secret_value()))
    tenants.secrets += secrets
    tenants.publish(history.changes)
    model = expected(final_rows(history.changes))
    for _ in range(6):
        org = data.draw(st.sampled_from(sorted(keys)))
        filters = data.draw(FILTERS)
        status, runs = tenants.status(keys[org], page_size=100, **filters)
        assert status == 200
        assert {r["organization_id"] for r in runs} <= {org}
        assert [r["workflow_run_id"] for r in runs] == search(model, org, filters.get("status", []),
                                                               filters.get("search_key"), filters.get("error_code"))


@pytest.mark.parametrize("how", ["revoked", "deleted"])
def test_a_revoked_or_deleted_key_stops_working_within_the_cache_time(tenants: Tenants, how: str) -> None:
    org = f"org_{uuid.uuid4().hex[:8]}"
    key = api_key(org, tenants.settings.jwt_secret.get_secret_value())
    tenants.secrets.append(key)
    token = {"id": f"tok_{org}", "organization_id": org, "token_type": "api", "token": key, "valid": True,
             "deleted_at": None}
    history = History()
    history.add("organization_auth_tokens", "c", token)
    tenants.publish(history.changes)
    assert tenants.status(key)[0] == 200  # now cached
    history.add("organization_auth_tokens", "u" if how == "revoked" else "d", {**token, "valid": False})
    tenants.publish(history.changes[-1:])
    indexed = time.monotonic()
    while tenants.status(key)[0] == 200:
        assert time.monotonic() - indexed <= CACHE_SECONDS + 0.5, "the key still works after the cache time"
        time.sleep(0.05)
    assert tenants.status(key) == (403, [])


def test_no_key_header_value_or_parameter_value_reaches_a_log(tenants: Tenants) -> None:
    """Every line the indexer and the API logged at DEBUG (in this module so far, and for data of its own here:
    indexed, searched for, a bad event dead-lettered, a bad key refused) holds none of the secrets."""
    org = f"org_{uuid.uuid4().hex[:8]}"
    key = api_key(org, tenants.settings.jwt_secret.get_secret_value())
    header, value = f"hdr-{uuid.uuid4().hex}", f"val-{uuid.uuid4().hex}"
    history = History()
    history.add("organization_auth_tokens", "c", {"id": f"tok_{org}", "organization_id": org, "token_type": "api",
                                                  "token": key, "valid": True})
    history.add("workflow_runs", "c", {"workflow_run_id": f"wr_{org}", "workflow_id": "w", "workflow_permanent_id": "wp",
                                       "organization_id": org, "status": "failed", "created_at": 1, "modified_at": 1,
                                       "extra_http_headers": orjson.dumps({"X-Secret": header}).decode()})
    history.add("workflow_run_parameters", "c", {"workflow_run_id": f"wr_{org}", "workflow_parameter_id": "p",
                                                 "value": value})
    history.add("workflow_runs", "u", {"workflow_run_id": f"wr_{org}", "workflow_id": "w", "workflow_permanent_id": "wp",
                                       "organization_id": org, "status": "failed", "created_at": 1, "modified_at": 1,
                                       "extra_http_headers": f'{{"X-Secret": "{header}"'})  # not JSON: a dead letter
    tenants.publish(history.changes)
    for term in (header, value, key):
        assert tenants.status(key, search_key=term[:500])[0] == 200
    assert tenants.status("not-a-key-but-still-a-secret")[0] == 403
    lines = tenants.log.getvalue()
    assert "request" in lines and "dead letter" in lines  # the capture works: both processes' lines are in it
    for secret in [*tenants.secrets, key, header, value, "not-a-key-but-still-a-secret"]:
        assert secret not in lines
