"""The long suite (`make soak`): repeated crashes, a consumer-group member killed, sustained load, and the
indexer's memory while it drains a backlog of a million events. Each test prints its figures."""

from __future__ import annotations

import os
import random
import subprocess
import time
from pathlib import Path

import pytest
from kafka import KafkaProducer

from runsearch import clients
from runsearch.bench import load
from runsearch.bench.classes import QueryClass
from runsearch.demo.dataset import History, RowChange, churn, final_rows, generate, stream
from runsearch.demo.events import TOAST_BYTES, Encoder
from runsearch.indexer.offsets import end_offsets
from runsearch.mappings import Names
from runsearch.operations import deadletters
from runsearch.settings import Settings
from tests.harness import (
    committed_up_to,
    documents,
    indexer_process,
    produce,
    served_api,
    wait_for_documents,
    wait_until_committed,
)
from tests.model import assert_documents_match, expected

pytestmark = [pytest.mark.integration, pytest.mark.soak]

SECONDS = float(os.environ.get("RUNSEARCH_SOAK_SECONDS", "60"))  # of sustained load
BACKLOG_RUNS = int(os.environ.get("RUNSEARCH_SOAK_BACKLOG_RUNS", "103000"))  # about 1,000,000 events


def _published(settings: Settings, tmp_path: Path, runs: int, organizations: int, seed: int) -> tuple[History, Path]:
    """A generated history in the topics, and the log file for the indexer processes."""
    history = generate(runs=runs, organizations=organizations, seed=seed, secret=settings.jwt_secret.get_secret_value())
    produce(settings, history.changes)
    log = tmp_path / "indexer.log"
    log.touch()
    return history, log


def _finish(settings: Settings, procs: list[subprocess.Popen], log: Path) -> None:
    """Let the running indexers apply everything published, then stop them."""
    wait_until_committed(settings, procs, log)
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=60)


def _converged(settings: Settings, changes: list[RowChange]) -> int:
    model = expected(final_rows(changes))
    assert_documents_match(documents(settings, Names(settings.index_prefix).read_alias("runs")), model)
    return len(model)


def test_repeated_kill_9_during_ingest_loses_nothing(settings: Settings, tmp_path: Path) -> None:
    history, log = _published(settings, tmp_path, 20_000, 5, seed=61)
    rng, kills = random.Random(62), 0
    for _ in range(8):
        proc = indexer_process(settings, log, RUNSEARCH_BATCH_SIZE=str(rng.choice([500, 2000, 20000])))
        time.sleep(rng.uniform(2, 8))  # a random moment: starting, mid-batch, mid-bulk, mid-commit
        proc.kill()
        proc.wait()
        kills += 1
    _finish(settings, [indexer_process(settings, log)], log)
    runs = _converged(settings, history.changes)
    print(f"\nkill -9: {kills} kills during ingest of {len(history.changes):,} events; all {runs:,} runs equal the reference")


def test_a_production_shaped_stream_with_poison_and_kills_loses_nothing(settings: Settings, tmp_path: Path) -> None:
    """Placeholders, tombstone-only deletes, hard-deleted keys, unknown values, out-of-range timestamps, poison
    messages mixed in, and the indexer killed at random moments: the index equals the model, every poison message
    is one dead letter."""
    history = churn(generate(runs=20_000, organizations=5, seed=66, secret=settings.jwt_secret.get_secret_value()), seed=67,
                    secret=settings.jwt_secret.get_secret_value())
    encoder = Encoder(toast_bytes=TOAST_BYTES, tombstone_only=lambda change: change.lsn % 2 == 0)
    producer = KafkaProducer(**clients.kafka(settings))
    poison = [b"{not json", b'{"op": "c", "after": {}, "source": {"lsn": 1}}',
              b'{"op": "c", "after": {"workflow_run_id": "wr_x"}, "source": {"lsn": 9223372036854775808}}']
    step = len(history.changes) // len(poison)
    for n, bad in enumerate(poison):  # a poison message after each share of the stream
        produce(settings, history.changes[n * step:(n + 1) * step], encoder)
        producer.send(settings.topic("workflow_runs"), key=b'{"workflow_run_id": "wr_x"}', value=bad)
        producer.flush()
    produce(settings, history.changes[len(poison) * step:], encoder)
    producer.close()
    log = tmp_path / "indexer.log"
    log.touch()
    rng = random.Random(68)
    for _ in range(4):
        proc = indexer_process(settings, log, RUNSEARCH_BATCH_SIZE=str(rng.choice([500, 5000])))
        time.sleep(rng.uniform(3, 8))
        proc.kill()
        proc.wait()
    _finish(settings, [indexer_process(settings, log)], log)
    runs = _converged(settings, history.changes)
    letters = list(deadletters.entries(settings))
    print(f"\nproduction-shaped stream: {len(history.changes):,} changes, 4 kills, {len(letters)} dead letters; "
          f"all {runs:,} runs equal the reference")
    assert len({entry.letter.origin for entry in letters}) == len(poison)


def test_a_consumer_group_member_killed_mid_stream(settings: Settings, tmp_path: Path) -> None:
    history, log = _published(settings, tmp_path, 15_000, 3, seed=63)
    members = [indexer_process(settings, log, RUNSEARCH_BATCH_SIZE="1000") for _ in range(2)]
    wait_for_documents(settings, 3_000, members, log)
    members[0].kill()  # its partitions move to the survivor after the session timeout (10 s)
    members[0].wait()
    _finish(settings, members[1:], log)
    runs = _converged(settings, history.changes)
    print(f"\nconsumer group: one of two members killed mid-stream; all {runs:,} runs equal the reference")


def test_sustained_load_has_no_errors(settings: Settings, tmp_path: Path) -> None:
    history, log = _published(settings, tmp_path, 5_000, 4, seed=64)
    _finish(settings, [indexer_process(settings, log)], log)
    org = "o_0000"
    queries = [QueryClass(n, org, p) for n, p in [
        ("no filter", {}), ("status", {"status": ["failed", "completed"]}), ("error_code", {"error_code": "LOGIN_FAILED"}),
        ("search", {"search_key": "invoice"}), ("rare search", {"search_key": "trc-0"}), ("page 20", {"page": 20})]]
    with served_api(settings, tmp_path / "api.log") as base:
        result = load.run(base, history.api_keys, queries, clients=16, seconds=SECONDS)
    print(f"\nload: {result.clients} clients for {result.seconds:.0f}s: {result.requests:,} requests "
          f"({result.requests_per_second:,.0f}/s), p50 {result.latency_ms['p50']:.1f} ms, p99 {result.latency_ms['p99']:.1f} ms, "
          f"{result.errors} errors")
    assert result.errors == 0 and result.requests > 0


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_indexer_memory_stays_bounded_draining_a_million_events(settings: Settings, tmp_path: Path) -> None:
    events = produce(settings, stream(BACKLOG_RUNS, 50, 65, settings.jwt_secret.get_secret_value()))
    log = tmp_path / "indexer.log"
    log.touch()
    proc = indexer_process(settings, log)
    samples: list[tuple[float, float]] = []  # (seconds, RSS MiB), one per second
    started, ends = time.monotonic(), end_offsets(settings)
    try:
        while not committed_up_to(settings, ends):
            assert proc.poll() is None, log.read_text()[-3000:]
            samples.append((time.monotonic() - started, _rss_mib(proc.pid)))
            time.sleep(1)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    half = len(samples) // 2
    first, second = max(r for _, r in samples[:half]), max(r for _, r in samples[half:])
    print(f"\nmemory: {events:,} events drained in {samples[-1][0]:.0f}s; indexer RSS peak {first:.0f} MiB in the first "
          f"half, {second:.0f} MiB in the second")
    assert events >= BACKLOG_RUNS * 9
    assert second < 1.25 * first + 50 and second < 1024  # no growth with the backlog drained
