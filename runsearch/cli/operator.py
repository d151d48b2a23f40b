"""Operators' commands: index generations (status, reindex, verify, merge, rollback, cleanup) and dead letters. They render
what `runsearch.operations` returns; refusals are errors the CLI prints as one line."""

from __future__ import annotations

import dataclasses
import datetime
import json
import time
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from runsearch.cli import render
from runsearch.cli.render import console
from runsearch.operations import SAMPLE
from runsearch.settings import get_settings

if TYPE_CHECKING:
    from runsearch.operations.deadletters import Entry

app = typer.Typer()
deadletters = typer.Typer(no_args_is_help=True, help="Events the indexer could not apply: list, show, apply again.")


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Print one JSON document (for scripts)")) -> None:
    """Index generations (documents, schema, served, kept current), a rebuild in progress and its lag, the live
    indexer's lag per partition, dead letters, the age of the newest applied change and the live indexers (from their
    progress reports in OpenSearch: this works from any host)."""
    from runsearch.operations.status import status as read_status

    shown = read_status(get_settings())
    if as_json:
        print(json.dumps(dataclasses.asdict(shown), indent=1))
        return
    table = Table("generation", "runs", "lookup", "keys", "schema", "served", "kept current")
    for info in shown.generations:
        table.add_row(str(info.number), *(f"{info.documents.get(k, 0):,}" for k in ("runs", "lookup", "keys")),
                      info.schema + ("" if info.compatible else " (another version's)"), "yes" if info.serving else "-",
                      "yes" if info.written else "-")
    console.print(table)
    if shown.lease:
        console.print(f"rebuild in progress: {shown.lease.describe()}; {shown.rebuild_lag or 0:,} events to replay")
    lag = Table("topic:partition", "live indexer lag")
    for part, behind in shown.live_lag.items():
        lag.add_row(part, f"{behind:,}")
    console.print(lag)
    console.print(f"dead letters: {shown.dead_letters:,}")
    age = shown.newest_change_age_seconds
    console.print("age of the newest applied change: "
                  + ("unknown (no live indexer has reported one in the last 10 minutes)" if age is None else f"{age:.1f} s"))
    for holder, seconds in shown.indexers.items():
        console.print(f"live indexer {holder}: last progress report {seconds:.0f} s ago")


@app.command()
def reindex(dry_run: bool = typer.Option(False, "--dry-run", help="Say what would happen, change nothing"),
            sample: int = typer.Option(SAMPLE, help="Verify N runs drawn from the index and about N from the topics"),
            full: bool = typer.Option(False, "--full", help="Verify every run (memory in proportion to the dataset)"),
            no_fold: bool = typer.Option(False, "--no-fold", help="Replay event by event into the registered generation "
                                         "(each run written as often as batches hold its rows) instead of folding first"),
            as_json: bool = typer.Option(False, "--json", help="No progress bars; print one JSON document at the end "
                                         "(for scripts)"),
            ) -> None:
    """Build the next index generation from Kafka, verify it, and serve it (no downtime; the previous generation stays
    current for `rollback` until `cleanup`). First the topics are folded on disk (RUNSEARCH_FOLD_DIR) and each
    document is written once; then the live indexer keeps the generation current while the rebuild catches up.

    After Ctrl-C or kill -9, run it again (once the lease expired): a stopped fold starts over, a stopped catch-up
    continues."""
    from runsearch.indexer.tables import TABLES
    from runsearch.operations.reindex import Reindex, plan

    settings = get_settings()
    planned = plan(settings)

    def say(text: str) -> None:
        if not as_json:
            console.print(text)

    say(f"{'resume' if planned.resumed else 'build'} generation {planned.generation} from the earliest offsets "
        f"of {len(TABLES)} topics; verify it; then serve it instead of generation {planned.serving}")
    if dry_run:
        return
    bars = render.quiet if as_json else render.bars
    rebuild = Reindex(settings, fold=not no_fold)
    started = time.monotonic()
    try:
        with bars() as show:
            verified = None if full else sample
            rebuilt = rebuild.run(verified, show) if as_json else \
                rebuild.run(verified, show, render.folded, render.verification)
    finally:
        rebuild.close()
    report = rebuilt.report
    if as_json:
        print(json.dumps({"generation": planned.generation, "served": rebuilt.served,
                          "seconds": time.monotonic() - started,
                          "folded": rebuilt.folded and dataclasses.asdict(rebuilt.folded),
                          "merge_seconds": rebuilt.merge_seconds,
                          "verification": dataclasses.asdict(report)}, indent=1))
    if report.differences:
        say(f"[red]verification failed ({len(report.differences)} differences): generation {planned.generation} is "
            "not served")
        raise typer.Exit(1)
    say(f"[green]generation {planned.generation} is served; generation {planned.serving} stays current until "
        "`runsearch cleanup`")


@app.command()
def verify(sample: int = typer.Option(SAMPLE, help="Compare N runs drawn from the index and about N from the topics"),
           full: bool = typer.Option(False, "--full", help="Compare every run (memory in proportion to the dataset)")
           ) -> None:
    """Compare the served generation with the topics up to the live indexer's committed offsets; every difference
    names its run. Runs that change meanwhile are compared again at a later cut."""
    from runsearch.operations.maintenance import verify_serving

    with render.bars() as show:
        report = verify_serving(get_settings(), None if full else sample, show)
    render.verification(report)
    if report.differences:
        raise typer.Exit(1)


@app.command()
def merge(segments: int | None = typer.Option(None, min=1, help="Segments per shard [default: RUNSEARCH_MERGE_SEGMENTS, or 1]")
          ) -> None:
    """Merge the served generation's segments: a listing costs OpenSearch per segment, and the live indexer's writes
    add segments over time. The index is read and written once: run it when the service is quiet."""
    from runsearch.operations.maintenance import merge_serving

    settings = get_settings()
    wanted = segments or settings.merge_segments or 1
    started = time.monotonic()
    with console.status(f"merging the served generation down to {wanted} segment(s) per shard"):
        number = merge_serving(settings, wanted)
    console.print(f"generation {number} merged down to {wanted} segment(s) per shard in {time.monotonic() - started:.0f} s")


@app.command()
def rollback() -> None:
    """Serve the previous generation again (refused unless the live indexer kept it current)."""
    from runsearch.operations.maintenance import rollback as roll_back

    served, back = roll_back(get_settings())
    console.print(f"generation {back} is served instead of {served}; it is current (the live indexer kept writing it)")


@app.command()
def cleanup(yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation")) -> None:
    """Delete every generation the API does not serve, and their rebuild consumer groups (refused during a rebuild)."""
    from runsearch.operations import maintenance

    settings = get_settings()
    doomed = maintenance.cleanup_plan(settings)
    if not doomed:
        console.print("nothing to delete")
        return
    if not yes and not typer.confirm(f"delete generations {', '.join(map(str, doomed))}?"):
        raise typer.Exit(1)
    cleaned = maintenance.cleanup(settings, doomed)
    console.print(f"deleted generations {', '.join(map(str, cleaned.generations))}; consumer groups removed: "
                  f"{', '.join(cleaned.groups) or 'none'}")


def _letters(refs: list[str]) -> list[Entry]:
    from runsearch.operations.deadletters import entries

    found = list(entries(get_settings()))
    if not refs:
        return found
    wanted = {ref if ":" in ref else f"0:{ref}" for ref in refs}
    chosen = [e for e in found if e.ref in wanted]
    missing = wanted - {e.ref for e in chosen}
    if missing:
        console.print(f"[red]no dead letter at {', '.join(sorted(missing))} (PARTITION:OFFSET of the dead-letter topic)")
        raise typer.Exit(1)
    return chosen


@deadletters.command("list")
def deadletters_list() -> None:
    """Every dead letter: where it sits, where its event came from, and why it failed."""
    table = Table("letter", "dead since (UTC)", "event (topic:partition:offset)", "payload", "reason")
    letters = _letters([])
    for entry in letters:
        topic, partition, offset = entry.letter.origin
        when = datetime.datetime.fromtimestamp(entry.timestamp_ms / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(entry.ref, when, f"{topic}:{partition}:{offset}", entry.letter.payload, entry.letter.reason)
    console.print(table)
    console.print(f"{len(letters):,} dead letters in {get_settings().deadletter_topic}")


@deadletters.command("show")
def deadletters_show(ref: str = typer.Argument(..., help="PARTITION:OFFSET in the dead-letter topic (or OFFSET)")) -> None:
    """One dead letter in full: its headers, key and value."""
    (entry,) = _letters([ref])
    for name, value in entry.letter.headers:
        console.print(f"[bold]{name}[/]: {value.decode(errors='replace')}", highlight=False, markup=False)
    for part, data in (("key", entry.letter.key), ("value", entry.letter.value)):
        text = "null" if data is None else data.decode(errors="replace")
        console.print(f"{part} ({0 if data is None else len(data):,} bytes): {text}", soft_wrap=True, highlight=False,
                      markup=False)


@deadletters.command("reapply")
def deadletters_reapply(refs: list[str] = typer.Argument(None, help="PARTITION:OFFSET of each letter (default: all)")
                        ) -> None:
    """Decode and apply dead letters again (after a fix); safe to repeat: rows are versioned. Letters that still
    fail are listed with the reason; none is removed from the topic."""
    from runsearch.indexer.consumer import TRANSIENT
    from runsearch.indexer.writer import Writer
    from runsearch.operations.deadletters import reapply

    settings = get_settings()
    chosen = _letters(refs or [])
    writer = Writer(settings)  # every generation the live indexer writes
    with render.bars() as show:
        report = reapply(settings, chosen, writer.apply, TRANSIENT,
                         lambda done: show("reading and decoding", done, len(chosen)))
    for entry, reason in report.failed:
        console.print(f"[red]{entry.ref}: still fails: {reason}", highlight=False)
    console.print(f"{len(report.applied):,} applied ({sum(report.outcome.applied.values()):,} changed the index, "
                  f"{sum(report.outcome.stale.values()):,} were already in it), {len(report.failed):,} still fail")
    if report.failed:
        raise typer.Exit(1)
