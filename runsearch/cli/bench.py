"""`runsearch bench ...`: runsearch against the platform's SQL on PostgreSQL, on servers of their own."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from runsearch import logs
from runsearch.cli.render import console
from runsearch.cli.service import StackDir, settings_with
from runsearch.errors import RunsearchError

app = typer.Typer(no_args_is_help=True, help="Benchmarks on servers of their own (they print figures).")


@app.command("run")
def bench_run(
    runs: int = typer.Option(1_000_000, help="Runs in the generated dataset (50,000 for a quick try)"),
    indexers: int = typer.Option(2, help="Live indexer processes, started once `reindex` has built the index"),
    requests: int = typer.Option(200, help="Requests per query class and endpoint"),
    clients: int = typer.Option(16, help="Concurrent clients of the load test"),
    load_seconds: float = typer.Option(30.0, help="Duration of the load test"),
    fresh_rate: int = typer.Option(1_000, help="Background change events per second during the freshness test"),
    fresh_seconds: float = typer.Option(60.0, help="Duration of the freshness test"),
    shard_counts: str = typer.Option("1,4,16", help="Shard counts the runs are copied into to measure latency against "
                                                    "the layout (comma-separated; empty: skip)"),
    out: Path = typer.Option(Path("bench-results.json"), help="Where the results go (JSON)"),
) -> None:
    """runsearch against the platform's SQL on PostgreSQL, on one generated dataset: prints the tables."""
    try:
        from runsearch.bench import report
        from runsearch.bench.suite import Bench, Options
    except ModuleNotFoundError as err:
        raise RunsearchError(f"the benchmark needs its extra ({err.name} is missing): pip install 'runsearch[bench]' "
                             "(`make bench` installs it)") from None

    bench = Bench(Options(runs=runs, indexers=indexers, requests=requests, clients=clients, load_seconds=load_seconds,
                          fresh_rate=fresh_rate, fresh_seconds=fresh_seconds,
                          shard_counts=tuple(int(n) for n in shard_counts.split(",") if n.strip())),
                  lambda line: console.log(line))
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
    console.print(report.size(results))
    if "shards" in results:
        layout = Table(*report.shards_header(results), title=f"OpenSearch took p50 / p99 (ms) by primary shards, "
                                                               f"{results['shards']['documents']:,} runs")
        for row in report.shards_rows(results):
            layout.add_row(*row)
        console.print(layout)
    console.print(f"results: {out}\n\nREADME table:\n")
    console.print(report.markdown(results), soft_wrap=True, highlight=False, markup=False)
    if results["disagreements"]:
        console.print(f"[red]runsearch and the baseline disagree on: {', '.join(results['disagreements'])}")
        raise typer.Exit(1)


@app.command("baseline", hidden=True)
def bench_baseline(port: int = typer.Option(...), dsn: str = typer.Option(...), stack_dir: StackDir = None) -> None:
    """Serve the platform's SQL answer of GET /v1/agents/runs (started by `bench run`)."""
    import uvicorn

    from runsearch.bench.baseline import create_baseline_app

    settings = settings_with(stack_dir)
    logs.setup(settings.log_level)
    app = create_baseline_app(dsn, settings.jwt_secret.get_secret_value())
    uvicorn.run(app, host=settings.bind_host, port=port, access_log=False, log_config=None)
