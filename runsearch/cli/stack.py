"""`runsearch stack ...`: the local OpenSearch and Kafka, as plain JVM processes on loopback."""

from __future__ import annotations

from urllib.parse import urlparse

import typer
from rich.table import Table

from runsearch.cli.render import console
from runsearch.settings import get_settings
from runsearch.stack import security
from runsearch.stack.launcher import Stack

app = typer.Typer(no_args_is_help=True, help="Local OpenSearch and Kafka as plain JVM processes on loopback.")


@app.command("up")
def stack_up(secure: bool = typer.Option(
        False, "--secure", help="OpenSearch with its security plugin (HTTPS, users, client certificates) and Kafka over "
                                "SASL_SSL, with certificates and passwords made at the first start"),
             nodes: int = typer.Option(1, "--nodes", min=1, max=9, help=(
                 "OpenSearch nodes, on consecutive ports from RUNSEARCH_OPENSEARCH_URL's; the first is the cluster "
                 "manager"))) -> None:
    """Fetch (once), start and wait for OpenSearch and Kafka; create the topics."""
    settings = get_settings()
    if nodes > 1:
        settings = settings.model_copy(update={"opensearch_url": cluster_urls(settings.opensearch_urls[0], nodes)})
    stack = Stack(settings, secure=secure)
    with console.status("starting OpenSearch and Kafka"):
        stack.up()
    _status(stack)
    if nodes > 1 and not stack.secured:
        console.print(f"clients reach every node with RUNSEARCH_OPENSEARCH_URL={stack.settings.opensearch_url}")
    if stack.secured:
        env = security.write_env_file(stack.settings, stack.secured)
        console.print(f"secured: the clients' settings (passwords included) are in {env}; give them to runsearch "
                      f"with `set -a; . {env}; set +a`")


@app.command("down")
def stack_down() -> None:
    """Stop the processes `stack up` started, and only those."""
    stopped = Stack(get_settings()).down()
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


def cluster_urls(first: str, nodes: int) -> str:
    """`nodes` URLs on consecutive ports from `first`'s, comma-separated as RUNSEARCH_OPENSEARCH_URL takes them."""
    url = urlparse(first)
    return ",".join(url._replace(netloc=f"{url.hostname}:{(url.port or 9200) + i}").geturl() for i in range(nodes))


@app.command("status")
def stack_status() -> None:
    """What runs where."""
    _status(Stack(get_settings()))


def _status(stack: Stack) -> None:
    table = Table("server", "pid", "address", "answers", "version", "data", "log")
    for name, info in stack.status().items():
        table.add_row(name, str(info["pid"] or "-"), str(info.get("url") or info.get("bootstrap")),
                      "yes" if info["answers"] else "no", str(info.get("version") or "-"), str(info["data"]), str(info["log"]))
    console.print(table, soft_wrap=True)


@app.command("wipe")
def stack_wipe() -> None:
    """Delete the stopped stack's data (OpenSearch's and Kafka's, together); the download cache stays."""
    Stack(get_settings()).wipe()
    console.print("wiped: the next `stack up` starts empty")


@app.command("fetch")
def stack_fetch() -> None:
    """Download both distributions into the cache without starting anything."""
    with console.status("fetching OpenSearch and Kafka from Maven Central"):
        Stack(get_settings()).fetch()
    console.print("cached")
