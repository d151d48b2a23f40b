"""The rebuild lease: one rebuild at a time, and no cleanup while one runs.

A rebuild holds a document in `<prefix>-operations` (who, which generation, until when) and renews it
every third of its term; a rebuild that dies stops renewing, and its lease expires after
`RUNSEARCH_LEASE_SECONDS`, so the next `reindex` can take over and resume the generation. Taking and
renewing use optimistic concurrency, so two processes never both believe they hold it.
"""

from __future__ import annotations

import contextlib
import os as os_module
import socket
import threading
import time
from dataclasses import dataclass

from opensearchpy import ConflictError, NotFoundError, OpenSearch

from runsearch.errors import RunsearchError
from runsearch.indexer.heartbeat import ensure_operations_index
from runsearch.mappings import Layout, Names

LEASE_ID = "rebuild"


@dataclass(frozen=True)
class Lease:
    holder: str  # host:pid
    generation: int
    since: float  # epoch seconds
    expires: float

    def describe(self) -> str:
        return (f"generation {self.generation} by {self.holder} since "
                f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(self.since))}")


class Held(RunsearchError):
    """Another process holds the lease."""


class Lost(RunsearchError):
    """The lease could not be renewed in time: another process may have taken it over."""


def _read(os: OpenSearch, names: Names) -> tuple[Lease, int, int] | None:
    try:
        found = os.get(index=names.operations_index(), id=LEASE_ID)
    except NotFoundError:
        return None
    source = found["_source"]
    lease = Lease(source["holder"], source["generation"], source["since"], source["expires"])
    return lease, found["_seq_no"], found["_primary_term"]


def current(os: OpenSearch, names: Names) -> Lease | None:
    """The lease in force (an expired one is none)."""
    found = _read(os, names)
    return found[0] if found is not None and found[0].expires > time.time() else None


class Holder:
    """This process's lease on rebuilding `generation`, renewed in the background until `release`."""

    def __init__(self, os: OpenSearch, names: Names, layout: Layout, generation: int, seconds: float) -> None:
        self.os, self.names, self.seconds = os, names, seconds
        ensure_operations_index(os, names, layout)
        now = time.time()
        self.lease = Lease(f"{socket.gethostname()}:{os_module.getpid()}", generation, now, now + seconds)
        found = _read(os, names)
        try:
            if found is None:
                written = os.create(index=names.operations_index(), id=LEASE_ID, body=self._body(), refresh=True)
            elif found[0].expires > now:
                raise Held(f"a rebuild holds the lease: {found[0].describe()} (it expires "
                           f"{found[0].expires - now:.0f} s after its holder stops renewing it)")
            else:
                written = os.index(index=names.operations_index(), id=LEASE_ID, body=self._body(),
                                   if_seq_no=found[1], if_primary_term=found[2], refresh=True)
        except ConflictError:
            raise Held("another rebuild took the lease at the same moment") from None
        self._version = (written["_seq_no"], written["_primary_term"])
        self._stop = threading.Event()
        self._lost: str | None = None
        self._renewer = threading.Thread(target=self._renew, name="lease", daemon=True)
        self._renewer.start()

    def _body(self) -> dict[str, object]:
        return {"holder": self.lease.holder, "generation": self.lease.generation, "since": self.lease.since,
                "expires": self.lease.expires}

    def _renew(self) -> None:
        written_until = self.lease.expires
        while not self._stop.wait(self.seconds / 3):
            self.lease = Lease(self.lease.holder, self.lease.generation, self.lease.since, time.time() + self.seconds)
            try:
                written = self.os.index(index=self.names.operations_index(), id=LEASE_ID, body=self._body(),
                                        if_seq_no=self._version[0], if_primary_term=self._version[1])
            except ConflictError:
                self._lost = "another process took the lease over"
                return
            except Exception as err:  # noqa: BLE001 - OpenSearch away: try again, until the lease would lapse
                if time.time() >= written_until:
                    self._lost = f"renewing it failed until it expired ({type(err).__name__})"
                    return
                continue
            self._version, written_until = (written["_seq_no"], written["_primary_term"]), self.lease.expires

    def check(self) -> None:
        """Raise `Lost` if the lease may no longer be ours."""
        if self._lost:
            raise Lost(f"the rebuild lease was lost: {self._lost}")

    def release(self) -> None:
        self._stop.set()
        self._renewer.join()
        if self._lost is None:
            with contextlib.suppress(ConflictError, NotFoundError):  # taken over, or deleted: not ours to delete
                self.os.delete(index=self.names.operations_index(), id=LEASE_ID, if_seq_no=self._version[0],
                               if_primary_term=self._version[1], refresh=True)
