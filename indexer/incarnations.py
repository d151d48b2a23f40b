"""Which incarnation of its topic each consumed partition's position belongs to. Pure.

A topic deleted and created again (an operator re-snapshotting a table) numbers its offsets from 0 again, under the
same name. kafka-python fetches by name (its fetch requests carry no topic id), so a consumer that did not see the
topic gone goes on from its old position in the new topic, and the first records of the new topic, as many as the
old one held, were skipped without a word (measured: every run of a test missed its re-snapshotted tasks). Kafka
names each incarnation by a topic id: the indexer stamps each commit with the id its position belongs to, and reads a
partition from its start when the id the consumer's metadata gives is not the one its position, or the committed
offset it was assigned with, belongs to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kafka import TopicPartition


def differ(then: str, now: str) -> bool:
    """Whether two topic ids name different incarnations ("", not known, differs from none)."""
    return bool(then and now and then != now)


@dataclass
class Incarnations:
    # Per assigned partition, the topic id its position belongs to ("": not known yet).
    believed: dict[TopicPartition, str] = field(default_factory=dict)

    def moved(self, assigned: Iterable[TopicPartition], current: Callable[[str], str | None],
              committed: Callable[[TopicPartition], str]) -> set[TopicPartition]:
        """The assigned partitions whose positions belong to another incarnation of their topic than the one the
        consumer sees now: they are to be read from their start. `current(topic)` is the topic's id in the consumer's
        metadata (None: not known, as while the topic is gone); `committed(partition)` the id stamped on its committed
        offset ("": none), asked only of a partition newly assigned (its position comes from that offset)."""
        assigned = set(assigned)
        self.believed = {tp: topic_id for tp, topic_id in self.believed.items() if tp in assigned}
        moved = set()
        for tp in assigned:
            now = current(tp.topic) or ""
            then = self.believed[tp] if tp in self.believed else committed(tp)
            if differ(then, now):
                moved.add(tp)
            self.believed[tp] = now or then
        return moved

    def stamp(self, tp: TopicPartition) -> str:
        """What a commit of `tp` says of the incarnation its offset belongs to."""
        return self.believed.get(tp, "")
