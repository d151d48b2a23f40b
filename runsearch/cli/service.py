"""Commands that run runsearch: the indexer, the API, and the whole local service with demo data."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from runsearch import logs
from runsearch.cli.render import console
from runsearch.settings import Settings, get_settings
from runsearch.stack.service import Service

app = typer.Typer()

StackDir = Annotated[Path | None, typer.Option(help="State folder (overrides RUNSEARCH_STACK_DIR)")]


def settings_with(stack_dir: Path | None) -> Settings:
    settings = get_settings()
    return settings.model_copy(update={"stack_dir": stack_dir}) if stack_dir else settings


def _logged(name: str, serve: Callable[[], None]) -> None:
    """A service's crash is a JSON log line like the rest of its log (error type and message), then exit 1."""
    try:
        serve()
    except Exception:
        logging.getLogger(f"runsearch.{name}").exception(f"the {name} stopped")
        raise typer.Exit(1) from None


@app.command()
def indexer(stack_dir: StackDir = None) -> None:
    """Run the live indexer: Kafka change events -> OpenSearch, until SIGTERM. On a large history with nothing built
    yet (RUNSEARCH_FIRST_BUILD_EVENTS), it first builds the first generation by the fold, as `reindex` does."""
    from runsearch.indexer.consumer import main
    from runsearch.operations.first_build import build_first

    settings = settings_with(stack_dir)
    logs.setup(settings.log_level)
    _logged("indexer", lambda: main(settings, first=lambda: build_first(settings)))


@app.command()
def api(stack_dir: StackDir = None) -> None:
    """Serve GET /v1/agents/runs (and /healthz, /readyz, /metrics)."""
    import uvicorn

    from runsearch.api.app import create_app

    settings = settings_with(stack_dir)
    logs.setup(settings.log_level)
    _logged("api", lambda: uvicorn.run(create_app(settings), host=settings.bind_host, port=settings.api_port,
                                       access_log=False, log_config=None))


def _service_up(settings: Settings) -> Service:
    from runsearch.demo.publish import examples

    service = Service(settings)
    try:
        with console.status("starting OpenSearch, Kafka, the indexer and the API; indexing demo data"):
            key = service.up()
    except BaseException:
        service.down()
        raise
    console.print("[green]runsearch is up.[/] Try:")
    for line in examples(settings, key):
        console.print(line, soft_wrap=True, highlight=False)
    return service


@app.command()
def topics() -> None:
    """Create the CDC topics (compacted) and the dead-letter topic where missing, on RUNSEARCH_KAFKA_BOOTSTRAP."""
    from runsearch.stack.kafka import create_topics

    created = create_topics(get_settings())
    console.print(f"created: {', '.join(created) or 'none (all there)'}")


@app.command()
def demo() -> None:
    """Publish the demo data (3,000 runs) unless the runs topic holds events, and print an API key and examples."""
    from runsearch.demo.publish import examples, load_demo

    settings = get_settings()
    key, published = load_demo(settings)
    console.print("demo data published" if published else "the runs topic already holds events: nothing published")
    console.print(f"an API key of the demo data: {key}", soft_wrap=True, highlight=False)
    for line in examples(settings, key):
        console.print(line, soft_wrap=True, highlight=False)


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
