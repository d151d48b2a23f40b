"""Python's cycle collector run once per batch (of a replay, of the live indexer), instead of whenever allocations
pile up.

Decoding and merging a batch makes millions of objects that all live until the batch is applied, so the collector,
which runs by allocation counts, scans them again and again (about six full collections per batch of a fold), and
finds almost nothing: reference counting frees the batch. That was 11-12 s of a 53-60 s fold part at 100,000 runs
(959,740 events), and 20.0 s of the 64.6 s of CPU a live indexer catching up on those events used in two minutes.
Paused while batches are read and applied, and run once after each, it still frees what cycles a batch leaves
(66,785 objects over those events: memory stays bounded). What the process holds before its first batch (modules,
schemas, clients) is frozen out of those collections: scanning it took 40 ms each time.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def per_batch() -> Iterator[Callable[[], int]]:
    """Automatic collection off inside (as it was after), what exists on entering left out of collections; what it
    gives collects, to be called after each batch."""
    enabled = gc.isenabled()
    gc.disable()
    gc.collect()
    gc.freeze()
    try:
        yield gc.collect
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()
