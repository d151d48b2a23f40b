"""`runsearch stack ...`: the local OpenSearch and Kafka, as plain JVM processes on loopback."""

from __future__ import annotations

import typer
from rich.table import Table

from runsearch.cli.render import console
from runsearch.settings import get_settings
from runsearch.stack.launcher import Stack

app = typer.Typer(no_args_is_help=True, help="Local OpenSearch and Kafka as plain JVM processes on loopback.")


@app.command("up")
def stack_up() -> None:
    """Fetch (once), start and wait for OpenSearch and Kafka; create the topics."""
    with console.status("starting OpenSearch and Kafka"):
        Stack(get_settings()).up()
    stack_status()


@app.command("down")
def stack_down() -> None:
    """Stop the processes `stack up` started, and only those."""
    stopped = Stack(get_settings()).down()
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@app.command("status")
def stack_status() -> None:
    """What runs where."""
    table = Table("server", "pid", "address", "answers", "version", "log")
    for name, info in Stack(get_settings()).status().items():
        table.add_row(name, str(info["pid"] or "-"), str(info.get("url") or info.get("bootstrap")),
                      "yes" if info["answers"] else "no", str(info.get("version") or "-"), str(info["log"]))
    console.print(table)


@app.command("fetch")
def stack_fetch() -> None:
    """Download both distributions into the cache without starting anything."""
    with console.status("fetching OpenSearch and Kafka from Maven Central"):
        Stack(get_settings()).fetch()
    console.print("cached")
