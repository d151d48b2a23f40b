"""Verifying the served generation, merging its segments, rolling back to the previous one, cleaning up the others."""

from __future__ import annotations

from dataclasses import dataclass, field

from runsearch.indexer import generations, offsets
from runsearch.operations import Refused, lease, verification
from runsearch.operations.reindex import Progress, context, delete_groups
from runsearch.settings import Settings


def verify_serving(settings: Settings, sample: int | None, progress: Progress) -> verification.Report:
    """Compare the generation the API serves with the topics, up to where the live indexer has committed."""
    os, names = context(settings)
    cut = offsets.committed_offsets(settings, settings.consumer_group)
    return verification.verify(settings, os, names.read_alias("runs"), cut, sample, progress)


def rollback(settings: Settings) -> tuple[int, int]:
    """Serve the newest generation older than the one served, if the live indexer keeps it current; (from, to)."""
    os, names = context(settings)
    found = generations.survey(os, names)
    serving = generations.serving(os, names)
    if serving is None:
        raise Refused("no generation is served: nothing to roll back")
    older = [info for number, info in found.items() if number < serving]
    if not older:
        raise Refused(f"no generation older than {serving} exists")
    target = older[-1]
    if not target.written:
        raise Refused(f"generation {target.number} has not been kept current (it has no write aliases): serving it "
                      f"would go back in time; run `runsearch reindex` instead")
    if not target.compatible:
        raise Refused(f"generation {target.number} was created by another version's mappings ({target.schema}); this "
                      f"version's indexer does not keep it current: roll back with that version")
    generations.serve(os, names, target.number)
    return serving, target.number


def merge_serving(settings: Settings, segments: int) -> int:
    """Merge the served generation down to `segments` segments per shard (the live indexer's writes add segments,
    and a listing costs OpenSearch per segment); the generation's number."""
    os, names = context(settings)
    serving = generations.serving(os, names)
    if serving is None:
        raise Refused("no generation is served: nothing to merge")
    try:
        generations.merge(os, names, serving, segments)
    except generations.MergeLost as err:
        raise Refused(f"{err}; run `runsearch merge` again") from None
    return serving


@dataclass
class Cleaned:
    generations: list[int] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)


def cleanup_plan(settings: Settings) -> list[int]:
    """The generations cleanup would delete: every one the API does not serve."""
    os, names = context(settings)
    held = lease.current(os, names)
    if held is not None:
        raise Refused(f"a rebuild is in progress ({held.describe()}): cleanup waits until it ends")
    serving = generations.serving(os, names)
    return [number for number in generations.survey(os, names) if number != serving]


def cleanup(settings: Settings, doomed: list[int]) -> Cleaned:
    """Delete generations and their rebuild consumer groups: the groups first (if one is still in use, nothing is
    deleted), then each generation's write aliases (so nothing writes it meanwhile), then its indices."""
    os, names = context(settings)
    held = lease.current(os, names)
    if held is not None:
        raise Refused(f"a rebuild is in progress ({held.describe()}): cleanup waits until it ends")
    if generations.serving(os, names) in doomed:
        raise Refused("the generation the API serves cannot be deleted")
    cleaned = Cleaned()
    cleaned.groups = delete_groups(settings, [offsets.rebuild_group(settings, n) for n in doomed])
    for number in doomed:
        generations.unregister(os, names, number)
        generations.drop(os, names, number)
        cleaned.generations.append(number)
    return cleaned
