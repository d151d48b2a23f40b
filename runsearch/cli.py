"""The `runsearch` command: local stack, indexer, API and operator tools."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from runsearch.settings import get_settings
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
