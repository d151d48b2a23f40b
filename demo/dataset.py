"""A realistic history of the platform's rows, as the source database would have changed them.

Used by `make run` (demo data), the tests (histories to deliver in any order) and the benchmarks
(at scale). The history is a list of row changes in commit order; `lsn` is their position.
Deterministic for a given seed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jwt

from runsearch.indexer.tables import TABLES
from runsearch.settings import DEVELOPMENT_JWT_SECRET

STATUSES = ["created", "queued", "running", "failed", "terminated", "canceled", "timed_out", "completed", "paused"]
TRIGGERS = ["manual", "api", "scheduled", "webhook", None]
PROXIES = ["RESIDENTIAL", "US-CA", "NONE", '{"country": "US", "subdivision": "NY"}', '{"country": "GB", "city": "London"}', None]
ERROR_CODES = [f"{w}_{s}" for w in ("LOGIN", "CAPTCHA", "NAVIGATION", "PAYMENT", "UPLOAD", "DOWNLOAD", "SESSION",
                                     "TIMEOUT", "PROXY", "FORM")
               for s in ("FAILED", "DETECTED", "REJECTED", "EXPIRED", "INVALID")]
ERROR_CODES[:3] = ["INVALID_CREDENTIALS", "LOGIN_FAILED", "CAPTCHA_DETECTED"]
WORDS = [
    "invoice", "portal", "login", "credential", "vendor", "shipment", "payroll", "report", "tax", "filing",
    "download", "upload", "claim", "policy", "renewal", "quote", "order", "tracking", "refund", "account",
    "statement", "benefits", "enrollment", "appointment", "booking", "inventory", "audit", "compliance",
    "onboarding", "customer", "supplier", "contract", "medical", "insurance", "permit", "license"
]
ODD_TEXT = ["Prod_Credential", "50% off", "a*b?c", "back\\slash", "ÉCOLE Straße", "naïve café", "東京 オフィス",
            "emoji 🚀 launch", "quote \"x\" 'y'", "under_score", "percent%sign", "שלום עולם", "Ünïcödé"]
PARAM_KEYS = ["login_url", "credential_value", "prod_credential", "search_query", "account_number", "start_date",
              "vendor_name", "download_folder", "Region", "MAX_PAGES"]
RUN_FRACTION_WITH_ERRORS = 0.05


def _vocabulary(size: int = 3_000) -> list[str]:
    """The common business words, then a long tail of made-up ones, so that searches find rare and common terms."""
    rng = random.Random(0)
    syllables = [
        "ka", "lo", "mi", "ren", "tor", "vak", "zu", "pel", "dra", "gon", "sil", "fen", "qua", "bri", "mox", "tal",
        "ny", "sep", "hul", "ori"
    ]
    tail = sorted({"".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(size * 2)} - set(WORDS))
    rng.shuffle(tail)
    return WORDS + tail[: size - len(WORDS)]


VOCABULARY = _vocabulary()


def _zipf_weights(n: int) -> list[float]:
    """Cumulative weights of rank 1..n in proportion to 1/rank: a few items are common, most are rare."""
    total, cumulative = 0.0, []
    for rank in range(1, n + 1):
        total += 1 / rank
        cumulative.append(total)
    return cumulative


WORD_WEIGHTS = _zipf_weights(len(VOCABULARY))
ERROR_WEIGHTS = _zipf_weights(len(ERROR_CODES))


@dataclass(frozen=True)
class RowChange:
    """One committed change: `row` is the full row after an upsert, or the primary key of a delete."""

    table: str
    op: str  # "c", "u" or "d"
    row: dict[str, Any]
    lsn: int


@dataclass
class History:
    changes: list[RowChange] = field(default_factory=list)
    api_keys: dict[str, str] = field(default_factory=dict)  # organization_id -> a valid API key
    refused_keys: list[str] = field(default_factory=list)  # keys that were valid once, then revoked or deleted

    def add(self, table: str, op: str, row: dict[str, Any]) -> None:
        self.changes.append(RowChange(table, op, dict(row), len(self.changes) + 1_000))


def api_key(organization_id: str, secret: str) -> str:
    """An API key as the platform issues them: an HS256 JWT whose subject is the organization."""
    return jwt.encode({"sub": organization_id, "iat": 1_700_000_000}, secret, algorithm="HS256")


def organization_ids(organizations: int) -> list[str]:
    """The generated organizations, the biggest first."""
    return [f"o_{i:04d}" for i in range(organizations)]


def _text(rng: random.Random, words: int) -> str:
    picked = rng.choices(VOCABULARY, cum_weights=WORD_WEIGHTS, k=words)
    if rng.random() < 0.15:
        picked.insert(rng.randrange(len(picked) + 1), rng.choice(ODD_TEXT))
    if rng.random() < 0.3:
        picked[0] = picked[0].capitalize()
    return " ".join(picked)


def _micros(base: int, offset_s: float) -> int:
    return base + int(offset_s * 1_000_000)


def generate(runs: int = 2_000, organizations: int = 5, seed: int = 7, secret: str = DEVELOPMENT_JWT_SECRET,
             big_share: float = 0.4) -> History:
    """The history of `stream` as a list, with a valid API key of every organization."""
    return History(list(stream(runs, organizations, seed, secret, big_share)),
                   {org: api_key(org, secret) for org in organization_ids(organizations)})


def stream(runs: int, organizations: int, seed: int, secret: str, big_share: float = 0.4) -> Iterator[RowChange]:
    """`runs` runs over `organizations` organizations, the first holding `big_share` of them and the rest a
    long tail (in proportion to 1/rank). About 9 events per run. Yields changes as they are made, so that
    millions of runs never sit in memory at once."""
    rng = random.Random(seed)
    lsn = 999

    def change(table: str, op: str, row: dict[str, Any]) -> RowChange:
        nonlocal lsn
        lsn += 1
        return RowChange(table, op, dict(row), lsn)

    base = 1_735_689_600_000_000  # 2025-01-01T00:00:00Z in microseconds
    orgs = organization_ids(organizations)
    tail = _zipf_weights(organizations - 1)
    weights = [big_share] + [big_share + (1 - big_share) * w / tail[-1] for w in tail]
    for i, org in enumerate(orgs):
        token = api_key(org, secret)
        yield change("organization_auth_tokens", "c", {"id": f"oat_{i}", "organization_id": org, "token_type": "api",
                                                       "token": token, "valid": True, "created_at": base,
                                                       "modified_at": base, "deleted_at": None})
        revoked = api_key(org, secret + "-old")
        yield change("organization_auth_tokens", "c", {"id": f"oat_{i}_old", "organization_id": org, "token_type": "api",
                                                       "token": revoked, "valid": False, "created_at": base,
                                                       "modified_at": base, "deleted_at": None})
    # Workflows: a few per organization, each with versions; every version has its parameter definitions.
    versions: dict[str, list[tuple[str, list[str]]]] = {org: [] for org in orgs}
    workflows: dict[str, dict[str, Any]] = {}
    definitions: list[dict[str, Any]] = []
    for org in orgs:
        for w in range(rng.randint(2, 4)):
            permanent = f"wpid_{org}_{w}"
            title = f"{_text(rng, 2).title()} – {org.upper()}"
            for version in range(1, rng.randint(1, 3) + 1):
                wid = f"w_{org}_{w}_{version}"
                workflows[wid] = {"workflow_id": wid, "organization_id": org, "workflow_permanent_id": permanent,
                                  "title": title, "version": version, "deleted_at": None}
                yield change("workflows", "c", workflows[wid])
                params = []
                for p, key in enumerate(rng.sample(PARAM_KEYS, rng.randint(2, 5))):
                    pid = f"wp_{wid}_{p}"
                    definition = {"workflow_parameter_id": pid, "workflow_id": wid, "workflow_parameter_type": "workflow",
                                  "key": key, "description": _text(rng, 4) if rng.random() < 0.8 else None,
                                  "default_value": None, "created_at": base, "modified_at": base, "deleted_at": None}
                    yield change("workflow_parameters", "c", definition)
                    definitions.append(definition)
                    params.append(pid)
                versions[org].append((wid, params))
    recent: list[str] = []
    for n in range(runs):
        org = rng.choices(orgs, cum_weights=weights)[0]
        wid, params = rng.choice(versions[org])
        run_id = f"wr_{n:09d}"
        # Some runs share a created_at to the microsecond: the order must still be total.
        created = _micros(base, n * 0.5) if rng.random() > 0.05 or n == 0 else _micros(base, (n - 1) * 0.5)
        headers = None
        if rng.random() < 0.3:
            headers = json.dumps({"X-Request-Source": _text(rng, 2), "Authorization-Hint": rng.choice(ODD_TEXT),
                                  "X-Trace": f"trc-{rng.getrandbits(32):08x}"}, ensure_ascii=False)
        parent = rng.choice(recent) if recent and rng.random() < 0.05 else None
        row = {
            "workflow_run_id": run_id, "workflow_id": wid, "workflow_permanent_id": workflows[wid]["workflow_permanent_id"],
            "organization_id": org, "browser_session_id": None, "browser_profile_id": None, "debug_session_id": None,
            "status": "created", "extra_http_headers": headers, "cdp_connect_headers": None,
            "proxy_location": rng.choice(PROXIES), "webhook_callback_url": None, "webhook_failure_reason": None,
            "totp_verification_url": None, "totp_identifier": None, "failure_reason": None, "failure_category": None,
            "parent_workflow_run_id": parent, "max_screenshot_scrolling_times": rng.choice([None, 3, 10]),
            "max_elapsed_time_minutes": None, "browser_address": None, "run_with": rng.choice([None, "agent", "code"]),
            "script_run": None, "job_id": None, "depends_on_workflow_run_id": None, "sequential_key": None,
            "ai_fallback": rng.choice([None, True, False]), "code_gen": None, "trigger_type": rng.choice(TRIGGERS),
            "workflow_schedule_id": None, "ignore_inherited_workflow_system_prompt": False,
            "copilot_session_id": f"cs_{n}" if rng.random() < 0.03 else None, "credits_used": None,
            "cached_credits_used": None, "queued_at": None, "started_at": None, "finished_at": None,
            "created_at": created, "modified_at": created, "unknown_future_column": "ignored",
        }
        yield change("workflow_runs", "c", row)
        recent = [*recent, run_id][-50:]
        for pid in params:
            value = _text(rng, rng.randint(1, 3)) if rng.random() < 0.9 else f"https://{rng.choice(WORDS)}.example.com/{rng.choice(ODD_TEXT)}"
            yield change("workflow_run_parameters", "c", {"workflow_run_id": run_id, "workflow_parameter_id": pid,
                                                          "value": value, "created_at": created})
        status = rng.choice(STATUSES)
        row.update(status="queued", queued_at=created + 500_000, modified_at=created + 500_000)
        yield change("workflow_runs", "u", row)
        row.update(status="running", started_at=created + 1_000_000, modified_at=created + 1_000_000)
        yield change("workflow_runs", "u", row)
        tasks = [{"task_id": f"tsk_{n}_{t}", "organization_id": org, "workflow_run_id": run_id, "status": "completed",
                  "errors": "[]", "created_at": created, "modified_at": created} for t in range(rng.randint(1, 3))]
        for task in tasks:
            yield change("tasks", "c", task)
        if rng.random() < RUN_FRACTION_WITH_ERRORS:
            task = rng.choice(tasks)
            codes = set(rng.choices(ERROR_CODES, cum_weights=ERROR_WEIGHTS, k=rng.randint(1, 2)))
            task["errors"] = json.dumps([{"error_code": c, "reasoning": "see screenshot", "confidence_float": 0.9}
                                         for c in sorted(codes)])
            yield change("tasks", "u", task)
        finished = created + 60_000_000
        row.update(status=status, finished_at=finished, modified_at=finished, credits_used=rng.randint(0, 40),
                   failure_reason="Login page did not accept the credentials" if status == "failed" else None)
        yield change("workflow_runs", "u", row)
    # Later edits the index must fan out: renamed workflows, reworded and soft-deleted definitions.
    for wid in rng.sample(sorted(workflows), max(1, len(workflows) // 3)):
        workflows[wid]["title"] = f"Renamed {_text(rng, 2)}"
        yield change("workflows", "u", workflows[wid])
    for definition in rng.sample(definitions, max(1, len(definitions) // 8)):
        definition.update(deleted_at=base + 3_600_000_000, modified_at=base + 3_600_000_000)
        yield change("workflow_parameters", "u", definition)


INFINITY, MINUS_INFINITY = 9223372036825200000, -9223372036832400000  # PostgreSQL's, as Debezium sends them
YEAR_20000 = 568_971_820_800_000_000  # a legal PostgreSQL timestamp past Python's year 9999


def _blob(rng: random.Random, size: int) -> str:
    """Text of about `size` characters: stored out of line (TOASTed) by PostgreSQL past ~2 KB."""
    return " ".join(_text(rng, 8) for _ in range(size // 50 + 1))[:size]


def churn(history: History, seed: int, secret: str = DEVELOPMENT_JWT_SECRET,
          share: float = 0.05) -> History:
    """Append what production adds to a history: large (TOASTed) values and updates that leave them unchanged
    (Debezium then sends its placeholder), hard deletes of every kind of row and some re-creates, values the
    contract does not know yet, and timestamps past Python's range. `share` of the rows of each kind are touched."""
    rng = random.Random(seed)
    latest: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}
    for change in history.changes:
        key = (change.table, primary_key(change.table, change.row))
        if change.op == "d":
            latest.pop(key, None)
        else:
            latest[key] = change.row
    rows: dict[str, list[dict[str, Any]]] = {}
    for (table, _), row in sorted(latest.items(), key=lambda item: item[0]):
        rows.setdefault(table, []).append(dict(row))

    def some(table: str) -> list[dict[str, Any]]:
        return rng.sample(rows.get(table, []), max(1, int(len(rows.get(table, [])) * share))) if rows.get(table) else []

    for run in some("workflow_runs"):  # large headers, then status changes that leave them unchanged
        run["extra_http_headers"] = json.dumps({"X-Blob": _blob(rng, rng.randint(3_000, 6_000)), "X-Env": "prod"})
        history.add("workflow_runs", "u", run)
        for status in ("terminated", "completed"):
            run.update(status=status, modified_at=run["modified_at"] + 1)
            history.add("workflow_runs", "u", run)
    for value in some("workflow_run_parameters"):
        history.add("workflow_run_parameters", "u", {**value, "value": _blob(rng, 3_000)})
    for definition in some("workflow_parameters"):  # a large description, then the key renamed
        definition["description"] = _blob(rng, 3_000)
        history.add("workflow_parameters", "u", definition)
        history.add("workflow_parameters", "u", {**definition, "key": f"{definition['key']}_v2"})
    for task in some("tasks"):  # large errors, then the task's status changes
        task["errors"] = json.dumps([{"error_code": rng.choice(ERROR_CODES), "reasoning": _blob(rng, 3_000)}])
        history.add("tasks", "u", task)
        history.add("tasks", "u", {**task, "status": "failed"})
    for run in some("workflow_runs"):  # values the contract does not know yet
        history.add("workflow_runs", "u", {**run, "status": "needs_review", "trigger_type": "email",
                                           "proxy_location": "RESIDENTIAL_XX", "run_with": "hybrid"})
    for run, created in zip(rng.sample(rows["workflow_runs"], 3), (INFINITY, MINUS_INFINITY, YEAR_20000), strict=True):
        history.add("workflow_runs", "u", {**run, "created_at": created, "finished_at": INFINITY})
    for org in sorted({row["organization_id"] for row in rows["organization_auth_tokens"]}):
        # A long key (TOASTed), revoked by an update that leaves it unchanged; another key hard-deleted.
        long_key = jwt.encode({"sub": org, "note": _blob(rng, 2_500)}, secret, algorithm="HS256")
        deleted_key = jwt.encode({"sub": org, "n": 2}, secret, algorithm="HS256")
        for tid, token in ((f"oat_{org}_long", long_key), (f"oat_{org}_deleted", deleted_key)):
            history.add("organization_auth_tokens", "c", {"id": tid, "organization_id": org, "token_type": "api",
                                                          "token": token, "valid": True, "deleted_at": None})
        history.add("organization_auth_tokens", "u", {"id": f"oat_{org}_long", "organization_id": org,
                                                      "token_type": "api", "token": long_key, "valid": False,
                                                      "deleted_at": None})
        history.add("organization_auth_tokens", "d", {"id": f"oat_{org}_deleted"})
        history.refused_keys += [long_key, deleted_key]
    for table in ("workflow_runs", "tasks", "workflow_run_parameters", "workflow_parameters", "workflows"):
        for row in some(table):  # hard deletes; a third of them re-created
            history.add(table, "d", {c: row[c] for c in TABLES[table].key})
            if rng.random() < 0.33:
                history.add(table, "c", row)
    return history


def primary_key(table: str, row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(row[c] for c in TABLES[table].key)


def final_rows(changes: Iterable[RowChange]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The (table, row) pairs that exist once all the changes are applied."""
    rows: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}
    for change in changes:
        key = (change.table, primary_key(change.table, change.row))
        if change.op == "d":
            rows.pop(key, None)
        else:
            rows[key] = change.row
    for (table, _), row in rows.items():
        yield table, row
