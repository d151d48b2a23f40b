"""The `runsearch` command, one sub-app per audience: the service (`indexer`, `api`, `up`, `down`, `run`), the local
stack (`stack ...`), operators (`status`, `reindex`, `verify`, `rollback`, `cleanup`, `deadletters ...`) and the
benchmark (`bench ...`). Commands only render; the work is in the packages they call.

A failure a user can cause or meet is one line naming the cause and the setting, with an exit code of its kind
(`EXIT_CODES`); `--debug` shows the traceback instead (never with local variables)."""

from __future__ import annotations

import sys
from importlib.metadata import version

import typer
from kafka.errors import KafkaConnectionError, KafkaTimeoutError
from opensearchpy.exceptions import AuthenticationException, AuthorizationException
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from pydantic import ValidationError

from runsearch.cli import bench, operator, service, stack
from runsearch.cli.render import console
from runsearch.errors import RunsearchError

EXIT_CODES = {
    1: "an operation refused or failed (the line says why)",
    2: "a setting or an argument is invalid",
    3: "OpenSearch or Kafka cannot be reached, or refuses the credentials",
    130: "interrupted (Ctrl-C)",
}

# No local variables in tracebacks: they can hold keys, passwords and searched values.
app = typer.Typer(no_args_is_help=True, help="runsearch: fast search for the platform's workflow runs.",
                  pretty_exceptions_show_locals=False)
app.add_typer(service.app)
app.add_typer(stack.app, name="stack")
app.add_typer(operator.app)
app.add_typer(operator.deadletters, name="deadletters")
app.add_typer(bench.app, name="bench")


def _print_version(asked: bool) -> None:
    if asked:
        console.print(f"runsearch {version('runsearch')}")
        raise typer.Exit()


@app.callback()
def root(
    _version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True, help="Print the version"),
    _debug: bool = typer.Option(False, "--debug", help="Show the traceback of a failure instead of one line"),
) -> None:
    """runsearch: fast search for the platform's workflow runs."""


def explain(err: BaseException) -> tuple[str, int] | None:
    """The one line and exit code of a failure a user can cause or meet; None for anything else (a bug)."""
    from runsearch.settings import get_settings

    if isinstance(err, ValidationError):
        problems = "; ".join(f"RUNSEARCH_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in err.errors())
        return f"invalid setting: {problems}", 2  # the message, never the value (it may be a secret)
    if isinstance(err, AuthenticationException | AuthorizationException):
        return ("OpenSearch refused the credentials: check RUNSEARCH_OPENSEARCH_USERNAME and RUNSEARCH_OPENSEARCH_PASSWORD "
                "(or RUNSEARCH_OPENSEARCH_CLIENT_CERT)"), 3
    if isinstance(err, OpenSearchConnectionError):
        return (f"cannot reach OpenSearch at {get_settings().opensearch_url} (RUNSEARCH_OPENSEARCH_URL): "
                f"{type(err.info).__name__ if isinstance(err.info, Exception) else err.error}; is it running "
                "(`runsearch stack up`)?"), 3
    if isinstance(err, KafkaConnectionError | KafkaTimeoutError):
        return (f"cannot reach Kafka at {get_settings().kafka_bootstrap} (RUNSEARCH_KAFKA_BOOTSTRAP): {type(err).__name__}; "
                "is it running (`runsearch stack up`), and are RUNSEARCH_KAFKA_SECURITY_PROTOCOL and its credentials "
                "right?"), 3
    if isinstance(err, RunsearchError):
        return str(err), 1
    return None


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as err:
        explained = explain(err)
        if explained is None or "--debug" in sys.argv:
            raise
        console.print(f"[red]{explained[0]}", highlight=False, soft_wrap=True)
        sys.exit(explained[1])
