"""GET /v1/agents/runs through HTTP, over data indexed by the real indexer from real Kafka into real OpenSearch.

One test per rule of the endpoint's semantics, and a differential property test against tests/model.py.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import jwt
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from runsearch import clients, mappings
from runsearch.api.answers import Answers
from runsearch.api.app import PATHS, create_app
from runsearch.contract import WorkflowRun
from runsearch.demo.dataset import History, final_rows, generate
from runsearch.indexer.consumer import Indexer
from runsearch.mappings import Names
from tests.conftest import isolated_settings
from tests.harness import documents, drain, indexed, produce, refresh
from tests.model import expected, search
from tests.world import ORG_A, build, soft_delete_definition

pytestmark = pytest.mark.integration


@dataclass
class World:
    client: TestClient
    keys: dict[str, str]
    history: History
    before_soft_delete: list[str]

    def ids(self, key: str = "a", **params: object) -> list[str]:
        response = self.client.get("/v1/agents/runs", params=params, headers={"x-api-key": self.keys[key]})
        assert response.status_code == 200, response.text
        return [run["workflow_run_id"] for run in response.json()]


@pytest.fixture(scope="module")
def world(servers: dict[str, str]) -> Iterator[World]:
    settings = isolated_settings(servers)
    history, keys = build(settings.jwt_secret.get_secret_value())
    generated = generate(runs=300, organizations=3, seed=21, secret=settings.jwt_secret.get_secret_value())
    keys.update({f"gen_{org}": key for org, key in generated.api_keys.items()})
    history.changes.extend(generated.changes)
    produce(settings, history.changes)
    indexer = Indexer(settings)
    drain(indexer)
    refresh(settings)
    with TestClient(create_app(settings)) as client:
        world = World(client, keys, history, [])
        world.before_soft_delete = world.ids(search_key="prod_credential")
        soft_delete_definition(history, ORG_A)
        produce(settings, history.changes[-1:])
        drain(indexer)
        refresh(settings)
        yield world
    indexer.close()


def test_run_id_matches(world: World) -> None:
    assert world.ids(search_key="A02") == ["wr_a02"]  # case-insensitive on the run id


def test_parameter_key_and_description_match_until_soft_deleted(world: World) -> None:
    assert world.before_soft_delete == ["wr_a03", "wr_a01"]
    assert world.ids(search_key="prod_credential") == []  # the definition was soft-deleted after indexing
    assert world.ids(search_key="production login") == []
    assert world.ids(key="b", search_key="PROD_CREDENTIAL") == ["wr_b01"]  # the other organization's is not deleted


def test_parameter_value_matches_whatever_the_definition(world: World) -> None:
    assert world.ids(search_key="login.example") == ["wr_a01"]


def test_extra_http_headers_match_as_raw_json_text(world: World) -> None:
    assert world.ids(search_key='"X-Trace": "ab%') == ["wr_a01"]
    assert world.ids(search_key="{}") == ["wr_a08"]


@pytest.mark.parametrize("term, want", [
    ("%_*?", ["wr_a01"]),  # every character literal: no LIKE or wildcard meaning
    ("%", ["wr_a02", "wr_a01"]),
    ("_", ["wr_a08", "wr_a07", "wr_a06", "wr_a03", "wr_a02", "wr_a01"]),  # run ids contain "_"
    ("*now*", ["wr_a02"]),
    ("?", ["wr_a01"]),
    ("\\\\Z", ["wr_a01"]),  # the JSON text holds an escaped backslash
    ("\\", ["wr_a01"]),
    ("école", ["wr_a01"]),
    ("STRASSE", []),
    ("straße", ["wr_a06"]),
    ("NAÏVE", ["wr_a06"]),
    ("istanbul", ["wr_a06"]),  # per-character lowercasing folds "İ" to a plain "i"
])
def test_special_characters_and_case_folding(world: World, term: str, want: list[str]) -> None:
    assert world.ids(search_key=term) == want


def test_empty_filters_apply_nothing(world: World) -> None:
    everything = world.ids(page_size=100)
    assert world.ids(search_key="", page_size=100) == everything
    assert world.ids(error_code="", page_size=100) == everything
    assert everything == ["wr_a08", "wr_a07", "wr_a06", "wr_a03", "wr_a02", "wr_a01"]


def test_repeated_status_means_either(world: World) -> None:
    assert world.ids(status=["failed", "terminated"]) == ["wr_a02", "wr_a01"]
    assert world.ids(status="queued") == ["wr_a07", "wr_a06"]


def test_error_code_is_exact_and_case_sensitive(world: World) -> None:
    assert world.ids(error_code="LOGIN_FAILED") == ["wr_a01"]
    assert world.ids(error_code="login_failed") == ["wr_a02"]
    assert world.ids(error_code="LOGIN") == []
    assert world.ids(error_code="42") == []  # a non-string error_code is no code


def test_child_and_copilot_runs_are_hidden(world: World) -> None:
    assert world.ids(search_key="only-marker") == []
    assert "wr_a04" not in world.ids(page_size=100) and "wr_a05" not in world.ids(page_size=100)


def test_other_organizations_runs_are_never_visible(world: World) -> None:
    assert world.ids(search_key="ÉCOLE") == ["wr_a01"]
    assert world.ids(key="b", page_size=100) == ["wr_b01"]


def test_equal_created_at_ordered_by_id_and_pages_partition(world: World) -> None:
    everything = world.ids(page_size=100)
    pages = [world.ids(page=p, page_size=4) for p in (1, 2, 3)]
    assert pages[0] + pages[1] == everything and pages[2] == []  # page past the end is empty
    assert everything.index("wr_a07") < everything.index("wr_a06")


def test_page_beyond_the_offset_window_is_a_clear_422(world: World) -> None:
    response = world.client.get("/v1/agents/runs", params={"page": 10_001, "page_size": 1},
                                headers={"x-api-key": world.keys["a"]})
    assert response.status_code == 422
    assert "10000" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize("params, loc", [
    ({"page": 0}, "page"), ({"page": "x"}, "page"), ({"page_size": 0}, "page_size"), ({"page_size": "1.5"}, "page_size"),
    ({"status": "finished"}, "status"), ({"search_key": "x" * 501}, "search_key"), ({"error_code": "e" * 501}, "error_code"),
])
def test_bad_parameters_get_422_validation_bodies(world: World, params: dict, loc: str) -> None:
    response = world.client.get("/v1/agents/runs", params=params, headers={"x-api-key": world.keys["a"]})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["loc"][0] == "query" and detail[0]["loc"][1] == loc and detail[0]["type"] and detail[0]["msg"]


@pytest.mark.secure
@pytest.mark.parametrize("key", [None, "", "not-a-jwt", "a_wrong_signature", "a_unknown", "a_revoked", "a_deleted",
                                 "b_row_with_a_subject"])
def test_bad_keys_get_403(world: World, key: str | None) -> None:
    headers = {} if key is None else {"x-api-key": world.keys.get(key, key)}
    for path in ("/v1/agents/runs", "/v1/workflows/runs"):
        response = world.client.get(path, headers=headers)
        assert (response.status_code, response.json()) == (403, {"detail": "Invalid credentials"})


def test_every_path_of_the_platform_answers_the_same_without_a_redirect(world: World) -> None:
    """The older path, the legacy `/api` prefix and a trailing slash, as the platform serves them."""
    new = world.client.get("/v1/agents/runs", params={"status": "failed"}, headers={"x-api-key": world.keys["a"]})
    assert new.status_code == 200 and new.json()
    assert "/api/v1/workflows/runs/" in PATHS and len(PATHS) == 8
    for path in PATHS:
        other = world.client.get(path, params={"status": "failed"}, headers={"x-api-key": world.keys["a"]},
                                 follow_redirects=False)
        assert (path, other.status_code, other.content) == (path, 200, new.content)
    assert set(world.client.get("/openapi.json").json()["paths"]) == {"/v1/agents/runs", "/v1/agents/runs/stats",
                                                                      "/v1/agents/runs/pages"}


@pytest.mark.secure
def test_response_shape(world: World) -> None:
    (run,) = world.client.get("/v1/agents/runs", params={"search_key": "wr_a01"},
                              headers={"x-api-key": world.keys["a"]}).json()
    assert run["workflow_title"] == "Nightly export o_alpha"
    assert run["extra_http_headers"] == {"X-Trace": "Ab%_*?\\Zed", "Accept-Language": "ÉCOLE"}
    assert run["credits_used"] == 0 and run["cached_credits_used"] == 0 and run["status"] == "failed"
    assert run["created_at"] == "2026-01-01T00:00:01" and run["queued_at"] is None
    assert list(run) == list(WorkflowRun.model_fields)  # every property, in the documented order


def test_answers_are_compressed_for_clients_that_ask_and_small_ones_never(world: World) -> None:
    key = {"x-api-key": world.keys["gen_o_0000"]}
    state = world.client.app.state  # type: ignore[attr-defined]
    kept, state.answers = state.answers, Answers(seconds=0.5, max_bytes=2**20, clock=lambda: 0.0)  # time stands still
    try:
        plain = world.client.get("/v1/agents/runs", params={"page_size": 50}, headers={**key, "accept-encoding": "identity"})
        packed = world.client.get("/v1/agents/runs", params={"page_size": 50}, headers={**key, "accept-encoding": "gzip"})
        hits = REGISTRY.get_sample_value("runsearch_api_answer_cache_total", {"outcome": "hit"}) or 0.0
        again = world.client.get("/v1/agents/runs", params={"page_size": 50}, headers={**key, "accept-encoding": "gzip"})
        assert REGISTRY.get_sample_value("runsearch_api_answer_cache_total", {"outcome": "hit"}) == hits + 1
    finally:
        state.answers = kept
    assert "content-encoding" not in plain.headers and packed.headers["content-encoding"] == "gzip"
    assert len(plain.json()) == 50 and packed.content == plain.content  # the client decodes it to the same bytes
    assert int(packed.headers["content-length"]) * 5 < len(plain.content)
    # The second from the cache, as it was sent: compressed, with the same headers.
    assert (again.headers["content-encoding"], again.headers["vary"]) == ("gzip", "Accept-Encoding")
    assert again.content == plain.content
    refused = world.client.get("/v1/agents/runs", headers={"x-api-key": "bad", "accept-encoding": "gzip"})
    assert refused.status_code == 403 and "content-encoding" not in refused.headers  # under 1 KiB: as it is


def test_opensearch_down_gives_fast_503(servers: dict[str, str]) -> None:
    down = isolated_settings(servers).model_copy(update={"opensearch_url": "http://127.0.0.1:9"})
    key = generate(runs=1, organizations=1).api_keys["o_0000"]
    with TestClient(create_app(down)) as client:
        response = client.get("/v1/agents/runs", headers={"x-api-key": key})
        ready = client.get("/readyz")
    assert response.status_code == 503 and "unavailable" in response.json()["detail"]
    assert ready.status_code == 503 and client.get("/healthz").status_code == 200


def test_a_generation_of_other_mappings_is_not_served(servers: dict[str, str]) -> None:
    """An API upgraded before the swap to a generation of its own mappings answers 503 and is not ready, rather than
    500s or empty pages: the older generation does not hold the response as doc values."""
    settings = isolated_settings(servers).model_copy(update={"answer_cache_seconds": 0})
    history = generate(runs=3, organizations=1)
    indexed(settings, history.changes)
    names = Names(settings.index_prefix)
    os = clients.opensearch(settings)
    older = mappings.body("runs")
    del older["mappings"]["properties"]["response"], older["mappings"]["_source"]
    older["mappings"]["_meta"] = {"runsearch": {"schema": "an-older-one"}}
    served = next(iter(os.indices.get_alias(name=names.read_alias("runs"))))
    os.indices.create(index=f"{settings.index_prefix}-older", body=older)
    for doc_id, source in documents(settings, served).items():
        os.index(index=f"{settings.index_prefix}-older", id=doc_id, body=source, refresh=True)
    with TestClient(create_app(settings)) as client:
        assert len(client.get("/v1/agents/runs", headers={"x-api-key": history.api_keys["o_0000"]}).json()) == 3
        assert client.get("/readyz").status_code == 200
        os.indices.update_aliases(body={"actions": [
            {"remove": {"index": served, "alias": names.read_alias("runs")}},
            {"add": {"index": f"{settings.index_prefix}-older", "alias": names.read_alias("runs")}}]})
        response = client.get("/v1/agents/runs", headers={"x-api-key": history.api_keys["o_0000"]})
        assert response.status_code == 503 and "retry" in response.json()["detail"]
        assert client.get("/readyz").status_code == 503


FILTER_TERMS = ["", "a", "login", "LOGIN", "wr_0000001", "é", "%", "_", "credential", "Portal", "ÉCOLE", "🚀", "\\",
                "report tax", "\"", "https://", "zzz-none"]


@pytest.mark.secure
@hyp_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(org=st.sampled_from(["o_0000", "o_0001", "o_0002"]),
       statuses=st.lists(st.sampled_from(["created", "running", "failed", "completed", "canceled"]), max_size=3),
       search_key=st.one_of(st.none(), st.sampled_from(FILTER_TERMS), st.text(max_size=3)),
       error_code=st.one_of(st.none(), st.sampled_from(["LOGIN_FAILED", "INVALID_CREDENTIALS", "CAPTCHA_DETECTED", ""])),
       page=st.integers(1, 3), page_size=st.sampled_from([1, 7, 50]))
def test_differential_against_the_model(world: World, org: str, statuses: list[str], search_key: str | None,
                                        error_code: str | None, page: int, page_size: int) -> None:
    generated_rows = [(t, r) for t, r in final_rows(world.history.changes) if t != "workflow_runs" or r["organization_id"] == org]
    want = search(expected(generated_rows), org, statuses, search_key, error_code)
    params = {"status": statuses, "search_key": search_key, "error_code": error_code, "page": page, "page_size": page_size}
    got = world.ids(key=f"gen_{org}", **{k: v for k, v in params.items() if v is not None})
    assert got == want[(page - 1) * page_size: page * page_size]


HOSTILE = ["*", "?", "\\", "\\\\", "\\*", "*\\", ".*", "[a-z]+", "(a|b)", "^wr_", "$", "{1,2}", "~", "#", "@", "&", "<>",
           "\"", "'", "%%", "_%_", '{"X-Trace":', '"}', "null", "login portal " * 38, "e\u0301cole",
           "🚀", "👩‍💻", "שלום", "\u202eevil", "\u200b", "Ǆ", "ß", "ﬁ", "\x7f", " ", "\t"]


@pytest.mark.parametrize("term", HOSTILE)
def test_hostile_search_keys_are_literal(world: World, term: str) -> None:
    org = "o_0000"
    rows = [(t, r) for t, r in final_rows(world.history.changes) if t != "workflow_runs" or r["organization_id"] == org]
    want = search(expected(rows), org, search_key=term)[:100]
    assert world.ids(key=f"gen_{org}", search_key=term, page_size=100) == want


@pytest.mark.parametrize("term", ["x" * 500, "X" * 499 + " ", "ab" * 250, " " + "AB" * 249 + "a"])
def test_long_repetitive_search_keys_are_searched(world: World, term: str) -> None:
    """Their matchers take more work to build than OpenSearch allows by default; the query raises the limit."""
    assert world.ids(search_key=term) == ["wr_a08"]


def test_identical_listings_reuse_an_answer_within_its_time_and_keys_are_checked_every_time(servers: dict[str, str]) -> None:
    settings = isolated_settings(servers).model_copy(update={"auth_cache_seconds": 0})
    secret = settings.jwt_secret.get_secret_value()
    history = generate(runs=30, organizations=1, seed=5, secret=secret)
    org = sorted(history.api_keys)[0]
    doomed = jwt.encode({"sub": org, "k": "doomed"}, secret, algorithm="HS256")
    history.add("organization_auth_tokens", "c", {"id": "t_doomed", "organization_id": org, "token_type": "api",
                                                  "token": doomed, "valid": True})
    produce(settings, history.changes)
    indexer = Indexer(settings)

    def applied() -> None:
        drain(indexer)
        refresh(settings)

    applied()
    now = [0.0]
    with TestClient(create_app(settings)) as client:
        client.app.state.answers = Answers(seconds=0.5, max_bytes=2**20, clock=lambda: now[0])  # type: ignore[attr-defined]

        def listing(key: str, **params: object) -> list[str]:
            response = client.get("/v1/agents/runs", params=params, headers={"x-api-key": key})
            assert response.status_code == 200, response.text
            return [run["workflow_run_id"] for run in response.json()]

        hits = REGISTRY.get_sample_value("runsearch_api_answer_cache_total", {"outcome": "hit"}) or 0.0
        before = listing(doomed)
        history.add("workflow_runs", "c", {"workflow_run_id": "wr_newest", "workflow_id": "w", "workflow_permanent_id": "wp",
                                           "organization_id": org, "status": "queued", "created_at": 2**62, "modified_at": 0})
        produce(settings, history.changes[-1:])
        applied()
        now[0] = 0.4  # within the answer's time: the same listing, by any key of the organization, is the answer kept
        assert listing(doomed) == listing(history.api_keys[org]) == before
        assert listing(doomed, page_size=5)[0] == "wr_newest"  # another page is another search
        assert REGISTRY.get_sample_value("runsearch_api_answer_cache_total", {"outcome": "hit"}) == hits + 2
        now[0] = 0.6  # past it: OpenSearch answers again
        assert listing(doomed)[0] == "wr_newest"
        history.add("organization_auth_tokens", "u", {"id": "t_doomed", "organization_id": org, "token_type": "api",
                                                      "token": doomed, "valid": False})
        produce(settings, history.changes[-1:])
        applied()
        now[0] = 0.7  # its answer is still kept, but the key is checked first
        assert client.get("/v1/agents/runs", headers={"x-api-key": doomed}).status_code == 403
        assert listing(history.api_keys[org])[0] == "wr_newest"
    indexer.close()


@pytest.mark.secure
@hyp_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(org=st.sampled_from(["o_0000", "o_0001", "o_0002"]),
       statuses=st.lists(st.sampled_from(["created", "running", "failed", "completed", "canceled"]), max_size=3),
       search_key=st.one_of(st.none(), st.sampled_from(FILTER_TERMS), st.text(max_size=3)),
       error_code=st.one_of(st.none(), st.sampled_from(["LOGIN_FAILED", "INVALID_CREDENTIALS", "CAPTCHA_DETECTED", ""])))
def test_stats_count_what_the_model_lists(world: World, org: str, statuses: list[str], search_key: str | None,
                                          error_code: str | None) -> None:
    """Total, statuses and error codes of exactly the runs the listing pages through, for any filters, tenancy
    included (the other organizations' look-alike runs are in the index)."""
    model = expected(final_rows(world.history.changes))
    ids = search(model, org, statuses, search_key, error_code)
    params = {"status": statuses, "search_key": search_key, "error_code": error_code, "error_codes": 100}
    response = world.client.get("/v1/agents/runs/stats", params={k: v for k, v in params.items() if v is not None},
                                headers={"x-api-key": world.keys[f"gen_{org}"]})
    assert response.status_code == 200, response.text
    got = response.json()
    assert got["total"] == len(ids) and got["timeline"] is None
    assert got["by_status"] == dict(Counter(model[rid]["status"] for rid in ids))
    assert {c["error_code"]: c["runs"] for c in got["error_codes"]} == \
        dict(Counter(code for rid in ids for code in model[rid]["error_codes"]))


def test_stats_timeline_counts_by_the_days_of_a_time_zone(servers: dict[str, str]) -> None:
    """Runs every 5 hours across the night Paris moved to summer time: counted per Paris day (one of 23 hours),
    and per UTC hour, as the model of the rows buckets them."""
    settings = isolated_settings(servers)
    history = generate(runs=5, organizations=1, seed=8, secret=settings.jwt_secret.get_secret_value())
    org = sorted(history.api_keys)[0]
    first = dt.datetime(2026, 3, 27, 22, 30, tzinfo=dt.UTC)
    created = [first + dt.timedelta(hours=5 * n) for n in range(20)]
    for n, at in enumerate(created):
        history.add("workflow_runs", "c", {"workflow_run_id": f"wr_t{n:02d}", "workflow_id": "w", "workflow_permanent_id": "wp",
                                           "organization_id": org, "status": "completed", "modified_at": 0,
                                           "created_at": int(at.timestamp()) * 10**6})
    produce(settings, history.changes)
    indexer = Indexer(settings)
    drain(indexer)
    refresh(settings)
    paris = ZoneInfo("Europe/Paris")
    with TestClient(create_app(settings)) as client:
        response = client.get("/v1/agents/runs/stats", headers={"x-api-key": history.api_keys[org]}, params={
            "from": "2026-03-28T00:00:00", "to": "2026-03-31T00:00:00", "interval": "day", "time_zone": "Europe/Paris"})
        assert response.status_code == 200, response.text
        buckets = response.json()["timeline"]["buckets"]
        days = Counter(at.astimezone(paris).date() for at in created)
        assert [(b["start"], b["runs"]) for b in buckets] == [
            ("2026-03-28T00:00:00+01:00", days[dt.date(2026, 3, 28)]), ("2026-03-29T00:00:00+01:00", days[dt.date(2026, 3, 29)]),
            ("2026-03-30T00:00:00+02:00", days[dt.date(2026, 3, 30)])]
        hours = client.get("/v1/agents/runs/stats", headers={"x-api-key": history.api_keys[org]}, params={
            "from": "2026-03-28T03:00:00Z", "to": "2026-03-28T09:00:00Z", "interval": "hour"}).json()["timeline"]["buckets"]
        starts = [dt.datetime.fromisoformat(b["start"]) for b in hours]
        assert starts == [dt.datetime(2026, 3, 28, h, tzinfo=dt.UTC) for h in range(3, 9)]
        assert [b["runs"] for b in hours] == [sum(s <= at < s + dt.timedelta(hours=1) for at in created) for s in starts]
        assert sum(b["runs"] for b in hours) == 2
        refused = client.get("/v1/agents/runs/stats", headers={"x-api-key": history.api_keys[org]},
                             params={"from": "2026-03-28T00:00:00Z", "time_zone": "Europe/Paris"})
        assert refused.status_code == 422 and "both `from` and `to`" in refused.json()["detail"][0]["msg"]
        unknown = client.get("/v1/agents/runs/stats", headers={"x-api-key": history.api_keys[org]}, params={
            "from": "2026-03-28", "to": "2026-03-29", "time_zone": "Mars/Olympus"})
        assert unknown.status_code == 422 and client.get("/v1/agents/runs/stats").status_code == 403
    indexer.close()


@pytest.mark.secure
@hyp_settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(org=st.sampled_from(["o_0000", "o_0001", "o_0002"]),
       statuses=st.lists(st.sampled_from(["created", "running", "failed", "completed", "canceled"]), max_size=2),
       search_key=st.one_of(st.none(), st.sampled_from(FILTER_TERMS)), page_size=st.sampled_from([1, 7, 1000]))
def test_a_cursor_walk_gives_every_run_of_the_listing_once_in_order(world: World, org: str, statuses: list[str],
                                                                      search_key: str | None, page_size: int) -> None:
    want = search(expected(final_rows(world.history.changes)), org, statuses, search_key)
    walked: list[str] = []
    cursor = None
    for _ in range(len(want) + 2):
        params = {"status": statuses, "search_key": search_key, "page_size": page_size, "cursor": cursor}
        response = world.client.get("/v1/agents/runs/pages", params={k: v for k, v in params.items() if v is not None},
                                    headers={"x-api-key": world.keys[f"gen_{org}"]})
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["runs"]) <= page_size
        walked += [run["workflow_run_id"] for run in page["runs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == want


def test_a_cursor_walk_is_stable_while_runs_arrive_and_keeps_to_its_organization(servers: dict[str, str]) -> None:
    settings = isolated_settings(servers)
    history = generate(runs=60, organizations=2, seed=9, secret=settings.jwt_secret.get_secret_value())
    one, other = sorted(history.api_keys)
    produce(settings, history.changes)
    indexer = Indexer(settings)
    drain(indexer)
    refresh(settings)
    model = expected(final_rows(history.changes))
    with TestClient(create_app(settings)) as client:
        def page(org: str, cursor: str | None = None) -> dict[str, Any]:
            params = {"page_size": 10, **({"cursor": cursor} if cursor else {})}
            response = client.get("/v1/agents/runs/pages", params=params, headers={"x-api-key": history.api_keys[org]})
            assert response.status_code == 200, response.text
            return dict(response.json())

        first = page(one)
        history.add("workflow_runs", "c", {"workflow_run_id": "wr_arrived", "workflow_id": "w", "workflow_permanent_id": "wp",
                                           "organization_id": one, "status": "queued", "created_at": 2**62, "modified_at": 0})
        produce(settings, history.changes[-1:])
        drain(indexer)
        refresh(settings)
        walked, cursor = [r["workflow_run_id"] for r in first["runs"]], first["next_cursor"]
        while cursor:
            following = page(one, cursor)
            walked += [r["workflow_run_id"] for r in following["runs"]]
            cursor = following["next_cursor"]
        assert walked == search(model, one)  # the run that arrived is newer than the walk: not in it, nothing repeated
        assert page(one)["runs"][0]["workflow_run_id"] == "wr_arrived"  # a new walk starts with it
        theirs = [r["workflow_run_id"] for r in page(other, first["next_cursor"])["runs"]]
        assert theirs and all(model[rid]["organization_id"] == other for rid in theirs)  # a cursor is a position only
        bad = client.get("/v1/agents/runs/pages", params={"cursor": "not-a-cursor"}, headers={"x-api-key": history.api_keys[one]})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "cursor"]
    indexer.close()
