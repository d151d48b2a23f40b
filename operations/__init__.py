"""The operators' protocols on index generations and dead letters: reindex, verify, rollback, cleanup, status,
dead letters. Plain functions and classes over settings, which the CLI renders and tests call step by step.

The guarantees (the README's operator section says what proves each):

- A swap serves data at least as fresh as the generation it replaces: the new generation is registered (the
  live indexer writes it from its next batch on) before the end offsets the rebuild catches up to are read,
  so every change is in it either from the rebuild or from the live indexer.
- A rebuild writes each document once: it folds the topics on disk before the generation is registered, through
  fold aliases the live indexer does not write (`fold`); then it registers the generation and catches up as above.
  A fold that stops is started over; a first build hands its place to a live group that never consumed, and sends
  the dead letters no live indexer will. The live indexer makes that first build itself on a large history
  (`first_build`).
- A rollback target is current: a generation keeps its write aliases after a swap, until cleanup, so the live
  indexer keeps it up to date; rollback refuses a generation that is not kept current.
- Operations are safe to combine: a rebuild holds a lease (`lease`); a second `reindex` and any `cleanup`
  refuse while it is held; cleanup removes the rebuild consumer groups of what it deletes, so a generation
  number used again starts from the beginning; writes name aliases only, so nothing re-creates an index.
"""

from runsearch.errors import RunsearchError

# Of every OpenSearch request of an operator's command and of each fold part: bulk writes at the bulk ceiling can wait
# in OpenSearch's queue far longer than a search (one took over 30 s in a 1,000,000-run rebuild).
REQUEST_TIMEOUT_SECONDS = 120
SAMPLE = 10_000  # runs a verification compares from the index, and about as many from the topics, unless told


class Refused(RunsearchError):
    """An operation that would break a guarantee; the message says why and what to do."""
