"""A rebuild's fold split by run over processes: which events each part folds, and what it sends and writes. Pure.

Every part reads every event, but merges only its own runs' rows: a run's own rows (the run, its parameter values)
go to the part that owns the run, by a hash of its id that every process computes alike. Everything else goes to
every part: the records many runs share (workflows, definitions), API keys, and tasks, whose delete names no run
(a part keeps the task records of all runs, and embeds them into its own runs only). So each run document is made
from all of its events by one part, and the shared records are the same in every part: part 0 alone writes them,
and alone sends the dead letters of the events every part reads.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from runsearch.indexer.tables import TABLES


@dataclass(frozen=True)
class Part:
    index: int
    of: int

    def owns(self, run_id: str) -> bool:
        return zlib.crc32(run_id.encode()) % self.of == self.index

    def keeps(self, table: str, run_id: str | None) -> bool:
        """Whether this part folds an event of `table` about `run_id` (None: the message names none, so it cannot
        be decoded either: part 0 keeps it, to send its dead letter)."""
        if TABLES[table].runs != "own":
            return True
        return self.owns(run_id) if run_id is not None else self.index == 0

    def sends(self, table: str | None) -> bool:
        """Whether this part sends the dead letters of `table`'s events (None: a topic of no table)."""
        return self.index == 0 or (table is not None and TABLES[table].runs == "own")

    def writes(self, kind: str) -> bool:
        """Whether this part writes the documents of `kind` (each part its runs; part 0 the shared records)."""
        return kind == "runs" or self.index == 0


WHOLE = Part(0, 1)  # one process folds everything
