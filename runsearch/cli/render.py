"""What every part of the CLI draws with: the console, progress bars, verification reports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TaskID, TextColumn, TimeRemainingColumn
from rich.text import Text

if TYPE_CHECKING:
    from runsearch.operations.fold import Folded
    from runsearch.operations.verification import Report

console = Console()


class PerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:>8,.0f} /s")


@contextmanager
def bars() -> Iterator[Callable[[str, int, int], None]]:
    """A progress callback (phase, done, total) drawing one bar per phase."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), PerSecond(), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        tasks: dict[str, TaskID] = {}

        def show(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(phase, total=total)
            progress.update(tasks[phase], completed=done, total=total)

        yield show


@contextmanager
def quiet() -> Iterator[Callable[[str, int, int], None]]:
    """A progress callback that draws nothing (for `--json`)."""
    yield lambda phase, done, total: None


def verification(report: Report) -> None:
    for line in report.differences[:50]:
        console.print(f"[red]{line}", highlight=False)
    console.print(f"{report.compared:,} runs compared after {report.replayed:,} events replayed: "
                  f"{len(report.differences):,} differences, {len(report.moved_on):,} still changing (not compared)")


def folded(report: Folded) -> None:
    events, documents = report.rates()
    console.print(f"folded {report.events:,} events in {report.fold_seconds:,.0f} s ({events:,.0f}/s) on "
                  f"{report.disk_bytes / 2**20:,.0f} MiB of disk; wrote {report.written:,} documents once each in "
                  f"{report.write_seconds:,.0f} s ({documents:,.0f}/s: "
                  + ", ".join(f"{kind} {n:,}" for kind, n in report.documents.items()) + ")")
