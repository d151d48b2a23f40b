"""Index settings and mappings, and the names of the versioned indices and their aliases.

One generation `N` is three indices: `<prefix>-runs-vN` (one document per run, read by the API),
`<prefix>-lookup-vN` (rows shared by many runs, for the indexer) and `<prefix>-keys-vN` (API keys).
The API reads through the read aliases, the indexer writes through the write aliases, so a rebuilt
generation goes live by moving aliases in one atomic update.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

KINDS = ("runs", "lookup", "keys")


def body(kind: str) -> dict[str, Any]:
    """The create-index body (settings and mappings) of one kind of index."""
    return json.loads(resources.files(__package__).joinpath(f"{kind}.json").read_text())


@dataclass(frozen=True)
class Names:
    prefix: str

    def index(self, kind: str, generation: int) -> str:
        return f"{self.prefix}-{kind}-v{generation}"

    def read_alias(self, kind: str) -> str:
        return f"{self.prefix}-{kind}"

    def write_alias(self, kind: str) -> str:
        return f"{self.prefix}-{kind}-write"


@dataclass(frozen=True)
class Pinned(Names):
    """Names whose write targets are the indices of one generation, for rebuilding it before it goes live."""

    generation: int = 0

    def write_alias(self, kind: str) -> str:
        return self.index(kind, self.generation)
