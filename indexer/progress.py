"""The indexer's progress line, like PGSync's status line: every interval, one log line says what was done since
the last one (events and their rate, documents written, dead letters) and where the indexer stands (lag, age of the
newest change applied), so an operator reading the log sees it work without a metrics scraper."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Progress:
    interval: float  # seconds; 0: never
    clock: Callable[[], float] = time.monotonic
    events: int = 0
    documents: int = 0
    dead_letters: int = 0
    since: float = field(init=False)

    def __post_init__(self) -> None:
        self.since = self.clock()

    def add(self, events: int, documents: int, dead_letters: int) -> None:
        self.events += events
        self.documents += documents
        self.dead_letters += dead_letters

    def due(self) -> dict[str, float] | None:
        """The counts since the last line, when a line is due (and the counters start again); else None."""
        elapsed = self.clock() - self.since
        if not self.interval or elapsed < self.interval:
            return None
        line = {"seconds": round(elapsed, 1), "events": self.events, "events_per_second": round(self.events / elapsed, 1),
                "documents_written": self.documents, "dead_letters": self.dead_letters}
        self.events = self.documents = self.dead_letters = 0
        self.since += elapsed
        return line
