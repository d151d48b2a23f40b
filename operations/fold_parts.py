"""The fold's other parts, each in a process of its own: its report, its failure as soon as it happens, and a
process that ended without either (killed: the kernel's OOM killer, `kill -9`).

Plain processes with a pipe each, not a `multiprocessing.Pool`: a pool replaces a worker that dies and never
answers for the task it held, so a rebuild whose other part was killed waited for it forever while still renewing
its lease (seen here: `kill -9` of a part at 100,000 runs).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from runsearch.errors import RunsearchError
from runsearch.indexer.replay import Progress

CHECK_SECONDS = 0.5  # how often the first part's progress looks at the others


class PartLost(RunsearchError):
    """A part's process ended without a report or an error."""


@dataclass
class Child:
    name: str
    process: BaseProcess
    answers: Connection  # its only sending end is the child's: the child's end shows as the pipe's end
    report: Any = None
    done: bool = False

    def check(self) -> bool:
        """Whether the part has handed its report over; raises its error, or PartLost when it ended without one."""
        if not self.done and self.answers.poll():
            try:
                failed, answer = self.answers.recv()
            except EOFError:
                self.process.join()
                raise PartLost(f"{self.name} ended without a result (exit code {self.process.exitcode}; -9 is what "
                               "the kernel's OOM killer sends: see RUNSEARCH_FOLD_PROCESSES)") from None
            if failed:
                raise answer
            self.report, self.done = answer, True
        return self.done

    def result(self) -> Any:
        while not self.check():
            self.answers.poll(CHECK_SECONDS)
        return self.report


def _run(answers: Connection, target: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        answer: tuple[bool, Any] = (False, target(*args))
    except BaseException as err:  # noqa: BLE001 - whatever stops a part is the rebuild's to raise
        answer = (True, err)
    try:
        answers.send(answer)
    except OSError:  # the rebuild is gone (a part stopping because it was orphaned): nobody to tell
        return
    except Exception as unsendable:  # noqa: BLE001 - an error that does not pickle: its repr reaches the rebuild
        answers.send((True, RunsearchError(f"{answer[1]!r} ({type(unsendable).__name__} handing it over)")))


@contextmanager
def started(named: dict[str, tuple[Any, ...]], target: Callable[..., Any]) -> Iterator[list[Child]]:
    """`target(*args)` in a spawned process per name; leaving ends any that still run (the rebuild stopped)."""
    context = multiprocessing.get_context("spawn")
    children = []
    try:
        for name, args in named.items():
            answers, sending = context.Pipe(duplex=False)
            process = context.Process(target=_run, args=(sending, target, args), name=name)
            process.start()
            sending.close()
            children.append(Child(name, process, answers))
        yield children
    finally:
        for child in children:
            if child.process.is_alive():
                child.process.terminate()
            child.process.join()
            child.answers.close()


def failing_fast(progress: Progress, children: list[Child]) -> Progress:
    """The first part's progress, which raises another part's failure (or its loss) at the first part's next step:
    not once the first part has folded and written its own share, minutes (at 10^8 runs, hours) later."""
    checked = time.monotonic()

    def step(phase: str, done: int, total: int) -> None:
        nonlocal checked
        if time.monotonic() - checked >= CHECK_SECONDS:
            checked = time.monotonic()
            for child in children:
                child.check()
        progress(phase, done, total)

    return step
