"""The `runsearch` command: local stack, indexer, API and operator tools."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import ProgressColumn, Task, TaskID
from rich.table import Table
from rich.text import Text

from runsearch import logs
from runsearch.settings import Settings, get_settings
from runsearch.service import Service
from stack.launcher import Stack
from stack.processes import StackError

if TYPE_CHECKING:
    from indexer.verification import Report

app = typer.Typer(no_args_is_help=True, help="runsearch: fast search for the platform's workflow runs.")
stack_app = typer.Typer(no_args_is_help=True, help="Local OpenSearch and Kafka as plain JVM processes on loopback.")
app.add_typer(stack_app, name="stack")
console = Console()


@stack_app.command("up")
def stack_up() -> None:
    """Fetch (once), start and wait for OpenSearch and Kafka; create the topics."""
    try:
        with console.status("starting OpenSearch and Kafka"):
            Stack(get_settings()).up()
    except StackError as err:
        console.print(f"[red]{err}")
        raise typer.Exit(1) from err
    stack_status()


@stack_app.command("down")
def stack_down() -> None:
    """Stop the processes `stack up` started, and only those."""
    stopped = Stack(get_settings()).down()
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@stack_app.command("status")
def stack_status() -> None:
    """What runs where."""
    table = Table("server", "pid", "address", "answers", "version", "log")
    for name, info in Stack(get_settings()).status().items():
        table.add_row(name, str(info["pid"] or "-"), str(info.get("url") or info.get("bootstrap")),
                      "yes" if info["answers"] else "no", str(info.get("version") or "-"), str(info["log"]))
    console.print(table)


@stack_app.command("fetch")
def stack_fetch() -> None:
    """Download both distributions into the cache without starting anything."""
    with console.status("fetching OpenSearch and Kafka from Maven Central"):
        Stack(get_settings()).fetch()
    console.print("cached")


StackDir = Annotated[Path | None, typer.Option(help="State folder (overrides RUNSEARCH_STACK_DIR)")]


def _settings(stack_dir: Path | None) -> Settings:
    settings = get_settings()
    return settings.model_copy(update={"stack_dir": stack_dir}) if stack_dir else settings


@app.command()
def indexer(stack_dir: StackDir = None) -> None:
    """Run the live indexer: Kafka change events -> OpenSearch, until SIGTERM."""
    from indexer.consumer import main

    logs.setup()
    main(_settings(stack_dir))


@app.command()
def api(stack_dir: StackDir = None) -> None:
    """Serve GET /v1/agents/runs (and /healthz, /readyz, /metrics)."""
    import uvicorn

    from api.app import create_app

    logs.setup()
    settings = _settings(stack_dir)
    uvicorn.run(create_app(settings), host=settings.bind_host, port=settings.api_port, access_log=False,
                log_config=None)


def _service_up(settings: Settings) -> Service:
    from demo.publish import examples

    service = Service(settings)
    try:
        with console.status("starting OpenSearch, Kafka, the indexer and the API; indexing demo data"):
            key = service.up()
    except StackError as err:
        console.print(f"[red]{err}")
        service.down()
        raise typer.Exit(1) from err
    console.print("[green]runsearch is up.[/] Try:")
    for line in examples(settings, key):
        console.print(line, soft_wrap=True, highlight=False)
    return service


@app.command()
def up() -> None:
    """Start the stack, the indexer and the API in the background, with demo data."""
    _service_up(get_settings())


@app.command()
def down() -> None:
    """Stop everything `up` or `run` started."""
    stopped = Service(get_settings()).down()
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@app.command()
def run() -> None:
    """`up`, then stay in the foreground until Ctrl-C, then stop everything."""
    service = _service_up(get_settings())
    console.print("Ctrl-C stops everything.")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a TERM stops everything too, like Ctrl-C
    try:
        service.wait()
        console.print("[red]the indexer or the API stopped; see the logs in " + str(service.settings.stack_dir))
    except KeyboardInterrupt:
        pass
    finally:
        console.print(f"stopped: {', '.join(service.down())}")


# --- operator commands: index generations -----------------------------------------------------------


class EventsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:>8,.0f} /s")


@contextmanager
def _bars() -> Iterator[Callable[[str, int, int], None]]:
    """A progress callback (phase, done, total) drawing one bar per phase."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), EventsPerSecond(),
               TimeRemainingColumn())
    with Progress(*columns, console=console) as bars:
        tasks: dict[str, TaskID] = {}

        def show(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bars.add_task(phase, total=total)
            bars.update(tasks[phase], completed=done, total=total)

        yield show


def _refused(err: Exception) -> NoReturn:
    console.print(f"[red]{err}", highlight=False)
    raise typer.Exit(1)


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Print one JSON document (for scripts)")) -> None:
    """Index generations (documents, schema, served, kept current), a rebuild in progress and its lag, the live
    indexer's lag per partition, dead letters, the age of the newest applied change."""
    import dataclasses
    import json

    from runsearch import operations

    shown = operations.status(get_settings())
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
    console.print(f"age of the newest applied change: {'unknown (the indexer metrics do not answer here)' if age is None else f'{age:.1f} s'}")


@app.command()
def reindex(dry_run: bool = typer.Option(False, "--dry-run", help="Say what would happen, change nothing"),
            sample: int = typer.Option(10_000, help="Verify N runs drawn from the topics and N from the index"),
            full: bool = typer.Option(False, "--full", help="Verify every run (memory in proportion to the dataset)")
            ) -> None:
    """Build the next index generation from Kafka while the live indexer keeps it current, verify it, and serve it
    (no downtime; the previous generation stays current for `rollback` until `cleanup`).

    Resumable: after Ctrl-C or kill -9, run it again (once the lease expired) and it continues the generation."""
    from indexer.lease import Held
    from runsearch import operations

    settings = get_settings()
    plan = operations.plan(settings)
    console.print(f"{'resume' if plan.resumed else 'build'} generation {plan.generation} from the earliest offsets of "
                  f"{len(settings.topics())} topics; verify it; then serve it instead of generation {plan.serving}")
    if dry_run:
        return
    rebuild = operations.Reindex(settings)
    try:
        rebuild.prepare()
        with _bars() as show:
            rebuild.build(show)
            console.print("caught up; verifying against the topics")
            report = rebuild.verify(None if full else sample, show)
        _report(report)
        if report.differences:
            console.print(f"[red]verification failed ({len(report.differences)} differences): generation "
                          f"{plan.generation} is not served")
            raise typer.Exit(1)
        rebuild.swap()
        rebuild.finish()
    except (Held, operations.Refused) as err:
        _refused(err)
    finally:
        rebuild.close()
    console.print(f"[green]generation {plan.generation} is served; generation {plan.serving} stays current until "
                  f"`runsearch cleanup`")


def _report(report: Report) -> None:
    for line in report.differences[:50]:
        console.print(f"[red]{line}", highlight=False)
    console.print(f"{report.compared:,} runs compared after {report.replayed:,} events replayed: "
                  f"{len(report.differences):,} differences, {len(report.moved_on):,} still changing (not compared)")


@app.command()
def verify(sample: int = typer.Option(10_000, help="Compare N runs drawn from the topics and N from the index"),
           full: bool = typer.Option(False, "--full", help="Compare every run (memory in proportion to the dataset)")
           ) -> None:
    """Compare the served generation with the topics up to the live indexer's committed offsets; every difference
    names its run. Runs that change meanwhile are compared again at a later cut."""
    from runsearch import operations

    with _bars() as show:
        report = operations.verify_serving(get_settings(), None if full else sample, show)
    _report(report)
    if report.differences:
        raise typer.Exit(1)


@app.command()
def rollback() -> None:
    """Serve the previous generation again (refused unless the live indexer kept it current)."""
    from runsearch import operations

    try:
        served, back = operations.rollback(get_settings())
    except operations.Refused as err:
        _refused(err)
    console.print(f"generation {back} is served instead of {served}; it is current (the live indexer kept writing it)")


@app.command()
def cleanup(yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation")) -> None:
    """Delete every generation the API does not serve, and their rebuild consumer groups (refused during a rebuild)."""
    from runsearch import operations

    settings = get_settings()
    try:
        doomed = operations.cleanup_plan(settings)
        if not doomed:
            console.print("nothing to delete")
            return
        if not yes and not typer.confirm(f"delete generations {', '.join(map(str, doomed))}?"):
            raise typer.Exit(1)
        cleaned = operations.cleanup(settings, doomed)
    except operations.Refused as err:
        _refused(err)
    console.print(f"deleted generations {', '.join(map(str, cleaned.generations))}; consumer groups removed: "
                  f"{', '.join(cleaned.groups) or 'none'}")


deadletters_app = typer.Typer(no_args_is_help=True, help="Events the indexer could not apply: list, show, apply again.")
app.add_typer(deadletters_app, name="deadletters")


def _letters(refs: list[str]) -> list:
    from indexer import redrive

    found = list(redrive.entries(get_settings()))
    if not refs:
        return found
    wanted = {ref if ":" in ref else f"0:{ref}" for ref in refs}
    chosen = [e for e in found if e.ref in wanted]
    missing = wanted - {e.ref for e in chosen}
    if missing:
        console.print(f"[red]no dead letter at {', '.join(sorted(missing))} (PARTITION:OFFSET of the dead-letter topic)")
        raise typer.Exit(1)
    return chosen


@deadletters_app.command("list")
def deadletters_list() -> None:
    """Every dead letter: where it sits, where its event came from, and why it failed."""
    import datetime

    table = Table("letter", "dead since (UTC)", "event (topic:partition:offset)", "payload", "reason")
    letters = _letters([])
    for entry in letters:
        topic, partition, offset = entry.letter.origin
        when = datetime.datetime.fromtimestamp(entry.timestamp_ms / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(entry.ref, when, f"{topic}:{partition}:{offset}", entry.letter.payload, entry.letter.reason)
    console.print(table)
    console.print(f"{len(letters):,} dead letters in {get_settings().deadletter_topic}")


@deadletters_app.command("show")
def deadletters_show(ref: str = typer.Argument(..., help="PARTITION:OFFSET in the dead-letter topic (or OFFSET)")) -> None:
    """One dead letter in full: its headers, key and value."""
    (entry,) = _letters([ref])
    for name, value in entry.letter.headers:
        console.print(f"[bold]{name}[/]: {value.decode(errors='replace')}", highlight=False, markup=False)
    for part, data in (("key", entry.letter.key), ("value", entry.letter.value)):
        text = "null" if data is None else data.decode(errors="replace")
        console.print(f"{part} ({0 if data is None else len(data):,} bytes): {text}", soft_wrap=True, highlight=False,
                      markup=False)


@deadletters_app.command("reapply")
def deadletters_reapply(refs: list[str] = typer.Argument(None, help="PARTITION:OFFSET of each letter (default: all)")
                        ) -> None:
    """Decode and apply dead letters again (after a fix); safe to repeat: rows are versioned. Letters that still
    fail are listed with the reason; none is removed from the topic."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from indexer import redrive
    from indexer.consumer import TRANSIENT
    from indexer.writer import Writer

    settings = get_settings()
    chosen = _letters(refs or [])
    writer = Writer(settings)  # every generation the live indexer writes
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console) as bars:
        task = bars.add_task("reading and decoding", total=len(chosen))
        report = redrive.reapply(settings, chosen, writer.apply, TRANSIENT, lambda n: bars.advance(task, n))
    for entry, reason in report.failed:
        console.print(f"[red]{entry.ref}: still fails: {reason}", highlight=False)
    console.print(f"{len(report.applied):,} applied ({sum(report.outcome.applied.values()):,} changed the index, "
                  f"{sum(report.outcome.stale.values()):,} were already in it), {len(report.failed):,} still fail")
    if report.failed:
        raise typer.Exit(1)


bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks on servers of their own (they print figures).")
app.add_typer(bench_app, name="bench")


@bench_app.command("run")
def bench_run(
    runs: int = typer.Option(1_000_000, help="Runs in the generated dataset (50,000 for a quick try)"),
    indexers: int = typer.Option(2, help="Indexer processes that index the backlog"),
    requests: int = typer.Option(200, help="Requests per query class and endpoint"),
    clients: int = typer.Option(16, help="Concurrent clients of the load test"),
    load_seconds: float = typer.Option(30.0, help="Duration of the load test"),
    fresh_rate: int = typer.Option(1_000, help="Background change events per second during the freshness test"),
    fresh_seconds: float = typer.Option(60.0, help="Duration of the freshness test"),
    out: Path = typer.Option(Path("bench-results.json"), help="Where the results go (JSON)"),
) -> None:
    """runsearch against the platform's SQL on PostgreSQL, on one generated dataset: prints the tables."""
    import json

    from bench import report
    from bench.suite import Bench, Options

    bench = Bench(Options(runs=runs, indexers=indexers, requests=requests, clients=clients, load_seconds=load_seconds,
                          fresh_rate=fresh_rate, fresh_seconds=fresh_seconds), lambda line: console.log(line))
    try:
        results = bench.run()
    finally:
        bench.stop()
    out.write_text(json.dumps(results, indent=1))
    table = Table(*report.HEADER, title=f"{results['dataset']['runs']:,} runs")
    for row in report.rows(results):
        table.add_row(*row)
    console.print(table)
    checks = Table("target", "measured", "met", title="targets")
    for target, measured, met in report.targets(results):
        checks.add_row(target, measured, "[green]yes" if met else "[red]no")
    console.print(checks)
    console.print(f"results: {out}\n\nREADME table:\n")
    console.print(report.markdown(results), soft_wrap=True, highlight=False, markup=False)
    if results["disagreements"]:
        console.print(f"[red]runsearch and the baseline disagree on: {', '.join(results['disagreements'])}")
        raise typer.Exit(1)


@bench_app.command("baseline", hidden=True)
def bench_baseline(port: int = typer.Option(...), dsn: str = typer.Option(...), stack_dir: StackDir = None) -> None:
    """Serve the platform's SQL answer of GET /v1/agents/runs (started by `bench run`)."""
    import uvicorn

    from bench.baseline import create_baseline_app

    logs.setup()
    settings = _settings(stack_dir)
    uvicorn.run(create_baseline_app(dsn, settings.jwt_secret), host=settings.bind_host, port=port, access_log=False,
                log_config=None)


if __name__ == "__main__":
    app()
