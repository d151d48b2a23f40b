"""A replay's batch decoded without the run rows a later event of the same batch replaces. Pure.

A run row changes several times while the run goes from created to finished (4 events per run in the benchmark),
and a fold's batch (`RUNSEARCH_FOLD_BATCH`) mostly holds them all; rendering a run row into its response is most of
decoding it. Among the events of one run row or run parameter in a batch, the earlier upserts change nothing once
the last one is applied when that last one is a complete upsert (no unavailable-value placeholder) with an lsn
above all of theirs: the last version wins over each of them (`versions.supersedes`), or, when the document holds a
newer version still, it repairs every carried value they could have repaired, with a newer one
(`unavailable.repair`). So they are left undecoded. That holds for a run's own rows only: a task's stale
change still teaches which run it belonged to (`records.merge`).

Only a replay that sends no dead letters may skip them: an event it does not decode cannot be found invalid. When
a last event turns out invalid or incomplete after all, the whole batch is decoded again, in order.
"""

from __future__ import annotations

from collections import defaultdict

from kafka.consumer.fetcher import ConsumerRecord

from runsearch.errors import DataError
from runsearch.indexer.consumer import Decoded, decode_batch
from runsearch.indexer.decode import key_of, version
from runsearch.indexer.tables import TABLES
from runsearch.settings import Settings


def decoded(records: list[ConsumerRecord], tables: dict[str, str], settings: Settings) -> Decoded:
    """`decode_batch(records)`, less the changes a later complete upsert of the same run row replaces."""
    hidden = _hidden(records, tables, settings.unavailable_value_placeholder.encode())
    if not hidden:
        return decode_batch(records, tables, settings)
    skipped = {i for earlier in hidden.values() for i in earlier}
    out = decode_batch([r for i, r in enumerate(records) if i not in skipped], tables, settings)
    complete = {id(rec) for rec, change in out.changes if not change.unavailable}
    if any(id(records[last]) not in complete for last in hidden):
        return decode_batch(records, tables, settings)
    return out


def _hidden(records: list[ConsumerRecord], tables: dict[str, str], placeholder: bytes) -> dict[int, list[int]]:
    """Index of a last upsert -> indices of the upserts of its row before it in the batch that it replaces."""
    rows: dict[tuple[str, tuple[str, ...]], list[int]] = defaultdict(list)
    for i, rec in enumerate(records):
        table = tables.get(rec.topic)
        if table is not None and TABLES[table].runs == "own" and rec.key is not None:
            try:
                rows[(table, key_of(table, rec.key))].append(i)
            except DataError:
                continue  # an undecodable key: decoded (and found invalid) as usual
    hidden = {}
    for indices in rows.values():
        if len(indices) < 2:
            continue
        *earlier, last = indices
        final = records[last].value
        if final is None or placeholder in final:  # a delete, or values it does not send
            continue
        upserts = [v for i in indices if (v := version(records[i].value)) is not None and v[0] == "upsert"]
        if len(upserts) == len(indices) and all(lsn < upserts[-1][1] for _, lsn in upserts[:-1]):
            hidden[last] = earlier
    return hidden
