"""The `runsearch` command, one sub-app per audience: the service (`indexer`, `api`, `up`, `down`, `run`), the local
stack (`stack ...`), operators (`status`, `reindex`, `verify`, `rollback`, `cleanup`, `deadletters ...`) and the
benchmark (`bench ...`). Commands only render; the work is in the packages they call. An error runsearch raises
on purpose is printed as one line, with exit code 1."""

from __future__ import annotations

import sys

import typer

from runsearch.cli import bench, operator, service, stack
from runsearch.cli.render import console
from runsearch.errors import RunsearchError

# No local variables in tracebacks: they can hold keys, passwords and searched values.
app = typer.Typer(no_args_is_help=True, help="runsearch: fast search for the platform's workflow runs.",
                  pretty_exceptions_show_locals=False)
app.add_typer(service.app)
app.add_typer(stack.app, name="stack")
app.add_typer(operator.app)
app.add_typer(operator.deadletters, name="deadletters")
app.add_typer(bench.app, name="bench")


def main() -> None:
    try:
        app()
    except RunsearchError as err:
        console.print(f"[red]{err}", highlight=False)
        sys.exit(1)
