"""The live indexer's first build: started on a history of at least `RUNSEARCH_FIRST_BUILD_EVENTS` events with nothing
built yet, it builds the first generation by the fold, as `runsearch reindex` does (each run document written once,
verified, served), and then goes live from where the build stopped. Event by event, a backlog's run is written once per
batch holding one of its rows: 4.3 times over 1,000,000 runs (20.9 min, against 13.6 min folded by two indexers).

Several indexers started together: one takes the rebuild lease and builds; the others wait while the lease is held.
None joins the live consumer group before the build hands the group its positions (after the swap, before letting go
of the lease): a member consuming meanwhile would replay every topic into the generation, event by event, once more.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Literal

from kafka.errors import KafkaError
from opensearchpy import OpenSearch
from opensearchpy.exceptions import TransportError

from runsearch.indexer import generations, offsets
from runsearch.mappings import Names
from runsearch.operations import SAMPLE, Refused, lease
from runsearch.operations.reindex import Progress, Rebuilt, Reindex, Replanned, context
from runsearch.settings import Settings

log = logging.getLogger(__name__)

POLL_SECONDS = 5.0  # how often a waiting indexer looks again


def build_first(settings: Settings, wait: Callable[[float], object] = time.sleep) -> Rebuilt | None:
    """Returns once the live indexer may start: with the build this process made, or None (nothing to build: a
    generation is served, the live group has consumed, or the history is small; or another process built it)."""
    if not settings.first_build_events:
        return None
    os, names = context(settings)
    said: list[str] = []
    while True:
        try:
            step, why = _step(settings, os, names)
        except (TransportError, KafkaError) as err:  # not up yet, or restarting: as the live indexer, wait for them
            step, why = "wait", f"OpenSearch or Kafka cannot answer yet ({type(err).__name__})"
        if step == "live":
            return None
        if step == "wait":
            _waiting(why, wait, said)
            continue
        log.info("first build: folding the history before going live", extra={"fields": {"detail": why}})
        rebuild = Reindex(settings)
        try:
            rebuilt = rebuild.run(SAMPLE, _logged(settings.progress_interval_seconds))
        except (lease.Held, Replanned) as err:  # another process took the lease first
            _waiting(str(err), wait, said)
            continue
        finally:
            rebuild.close()
        if not rebuilt.served:
            raise Refused(f"the first build's verification found {len(rebuilt.report.differences)} differences (first: "
                          f"{rebuilt.report.differences[0]}); generation {rebuild.plan.generation} is not served. "
                          "`runsearch reindex` builds it on; `runsearch cleanup --yes` deletes it")
        fields = {"generation": rebuild.plan.generation, "merge_seconds": round(rebuilt.merge_seconds, 1)}
        if rebuilt.folded is not None:
            fields.update(events=rebuilt.folded.events, documents_written=rebuilt.folded.written,
                          fold_seconds=round(rebuilt.folded.fold_seconds, 1),
                          write_seconds=round(rebuilt.folded.write_seconds, 1))
        log.info("first build served; going live", extra={"fields": fields})
        return rebuilt


def _step(settings: Settings, os: OpenSearch, names: Names) -> tuple[Literal["live", "wait", "build"], str]:
    """What to do now, and why (when waiting or building)."""
    if any(offsets.committed_offsets(settings, settings.consumer_group).values()):
        return "live", ""
    # A rebuild under way hands the live group its positions after it serves its generation, before it lets go of the
    # lease: joining the group before then would replay every topic.
    if (held := lease.current(os, names)) is not None:
        return "wait", f"a rebuild holds the lease: {held.describe()}"
    if generations.serving(os, names) is not None:
        return "live", ""
    # A generation that exists unserved is a first build stopped, or failed: built (on) all the same.
    events = sum(offsets.end_offsets(settings).values())
    if not generations.survey(os, names) and events < settings.first_build_events:
        return "live", ""  # the live indexer creates the first generation and fills it event by event
    return "build", f"{events:,} events in the topics, RUNSEARCH_FIRST_BUILD_EVENTS {settings.first_build_events:,}"


def _waiting(why: str, wait: Callable[[float], object], said: list[str]) -> None:
    """Wait a poll; the reason is logged when it is new (a build takes minutes: one line, not one per poll)."""
    if why not in said:
        said.append(why)
        log.info("first build: another process builds it; waiting", extra={"fields": {"detail": why}})
    wait(POLL_SECONDS)


def _logged(interval: float) -> Progress:
    """A rebuild's progress as log lines: each phase when it starts, then at most once per `interval` seconds (0: none,
    as the indexer's own progress lines)."""
    last: dict[str, float] = {}

    def show(phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if interval and now - last.get(phase, -math.inf) >= interval:
            last[phase] = now
            log.info("first build progress", extra={"fields": {"phase": phase, "done": done, "total": total}})

    return show
