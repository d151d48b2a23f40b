"""The `runsearch` command: local stack, indexer, API and operator tools."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from runsearch import logs
from runsearch.settings import Settings, get_settings
from runsearch.service import Service
from stack.launcher import Stack
from stack.processes import StackError

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


bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks against the running stack (they print figures).")
app.add_typer(bench_app, name="bench")


@bench_app.command("ingest")
def bench_ingest(runs: int = typer.Option(100_000, help="Runs in the generated dataset")) -> None:
    """Publish a generated dataset, index it from Kafka until searchable, print events/s."""
    from bench.ingest import run as ingest

    with console.status(f"publishing and indexing {runs:,} runs"):
        result = ingest(get_settings(), runs)
    console.print(f"{result.runs:,} runs, {result.events:,} events: published in {result.publish_seconds:.1f}s; "
                  f"indexed until searchable in {result.index_seconds:.1f}s = "
                  f"[bold]{result.events_per_second:,.0f} events/s[/]; {result.documents:,} run documents")


@bench_app.command("latency")
def bench_latency(requests: int = typer.Option(200, help="Requests per query kind")) -> None:
    """p50/p99 of a few query kinds through the API of a running `make up`, on its demo data."""
    from bench.latency import measure
    from demo.dataset import generate
    from runsearch.service import DEMO_RUNS

    settings = get_settings()
    keys = generate(runs=DEMO_RUNS, secret=settings.jwt_secret).api_keys
    results = measure(f"http://{settings.bind_host}:{settings.api_port}", keys[sorted(keys)[0]], requests)
    table = Table("query", "p50 ms", "p99 ms")
    for name, r in results.items():
        table.add_row(name, f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}")
    console.print(table)


if __name__ == "__main__":
    app()
