"""Index bodies carry their schema stamp; names are built and parsed in one place."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from runsearch import mappings
from runsearch.mappings import LEGACY_SCHEMA, Layout, Names
from runsearch.settings import Settings


def test_every_body_is_stamped_with_the_schema_of_all_three() -> None:
    for kind in mappings.KINDS:
        assert mappings.body(kind)["mappings"]["_meta"] == {"runsearch": {"schema": mappings.schema()}}
    assert mappings.stamp(mappings.body("runs")["mappings"]) == mappings.schema()
    assert mappings.stamp({"properties": {}}) == LEGACY_SCHEMA  # created before stamps


def test_a_changed_mapping_is_another_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    files = mappings._files()
    changed = {**files, "keys": {**files["keys"], "settings": {"number_of_shards": 2}}}
    mappings.schema.cache_clear()
    monkeypatch.setattr(mappings, "_files", lambda: changed)
    try:
        assert mappings.schema() != LEGACY_SCHEMA
    finally:
        monkeypatch.undo()
        mappings.schema.cache_clear()


@pytest.mark.parametrize("name, parsed", [("p-runs-v3", ("runs", 3)), ("p-lookup-v12-write", ("lookup", 12)),
                                          ("p-keys-v1", ("keys", 1)), ("p-runs", None), ("p-other-v1", None),
                                          ("q-runs-v1", None), ("p-runs-vx", None), ("p-operations", None)])
def test_names_parse_back(name: str, parsed: tuple[str, int] | None) -> None:
    assert Names("p").parse(name) == parsed


def test_write_aliases_name_their_generation() -> None:
    names = Names("p")
    assert names.generation(4).write_alias("keys") == names.write_alias("keys", 4) == "p-keys-v4-write"
    assert names.parse(names.write_alias("runs", 9)) == ("runs", 9) and names.read_alias("runs") == "p-runs"


@pytest.mark.parametrize("given, runs_shards, index_settings", [
    ({}, 1, {"auto_expand_replicas": "0-1"}),
    ({"expected_runs": 12_000_000}, 6, {"auto_expand_replicas": "0-1"}),
    ({"expected_runs": 2_000_001, "index_replicas": "1-all"}, 2, {"auto_expand_replicas": "1-all"}),
    ({"expected_runs": 10**9, "runs_shards": 7, "index_replicas": "2"}, 7,
     {"number_of_replicas": 2, "auto_expand_replicas": False}),
])
def test_layout_follows_the_settings_and_leaves_the_schema_alone(given: dict[str, object], runs_shards: int,
                                                                  index_settings: dict[str, object]) -> None:
    layout = Layout.of(Settings(**given))  # type: ignore[arg-type]
    for kind in mappings.KINDS:
        created = mappings.body(kind, layout)
        shards = runs_shards if kind == "runs" else 1
        laid_out = {k: v for k, v in created["settings"].items() if "replicas" in k or "shards" in k}
        assert laid_out == {"number_of_shards": shards, **index_settings}
        assert mappings.stamp(created["mappings"]) == mappings.schema()  # a layout is not another schema


@pytest.mark.parametrize("replicas", ["", "one", "1-", "-1", "0-many"])
def test_replicas_are_a_count_or_a_range(replicas: str) -> None:
    with pytest.raises(ValidationError):
        Settings(index_replicas=replicas)  # type: ignore[call-arg]
