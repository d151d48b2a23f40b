"""One stack folder, one state: OpenSearch's data belongs to the stack folder and to the Kafka beside it, and is
never opened by a version that cannot read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from runsearch.settings import Settings
from runsearch.stack import opensearch
from runsearch.stack.launcher import Stack
from runsearch.stack.processes import StackError


def _stack(folder: Path, urls: str = "http://127.0.0.1:19900") -> Stack:
    return Stack(Settings(stack_dir=folder, opensearch_url=urls))  # type: ignore[call-arg]


def test_each_stack_folder_has_its_own_data_per_node(tmp_path: Path) -> None:
    one, other = _stack(tmp_path / "a", "http://127.0.0.1:19900,http://127.0.0.1:19901"), _stack(tmp_path / "b")
    dirs = [opensearch.runtime_dir(one.settings, port) for port in (19900, 19901)]
    assert len(set(dirs)) == 2 and opensearch.runtime_dir(other.settings, 19900) not in dirs
    assert [p.name for p in one.opensearch_nodes] == ["opensearch", "opensearch-2"]


def test_opensearch_data_beside_a_new_kafka_is_discarded(tmp_path: Path) -> None:
    stack = _stack(tmp_path)
    data = opensearch.runtime_dir(stack.settings, 19900) / "data"
    data.mkdir(parents=True)
    (tmp_path / "kafka" / "data").mkdir(parents=True)
    (tmp_path / "kafka" / "data" / "meta.properties").write_text("cluster.id=x\n")
    assert not stack.discard_orphaned_index() and data.exists()  # its own Kafka is there: kept
    (tmp_path / "kafka" / "data" / "meta.properties").unlink()
    assert stack.discard_orphaned_index() and not data.exists()  # that Kafka is gone: discarded
    assert not stack.discard_orphaned_index()


def test_data_of_another_version_is_refused_with_the_fix(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "jvm.options").write_text("-Xms1g\n-Xlog:gc*:file=logs/gc.log\n")
    settings = Settings(stack_dir=tmp_path / "stack", opensearch_url="http://127.0.0.1:19900")  # type: ignore[call-arg]
    settings.stack_dir.mkdir()
    (settings.stack_dir / "opensearch-19900").symlink_to(tmp_path / "gone")  # an earlier layout's link: replaced
    run = opensearch.prepare(settings, home, 19900, None)
    assert (run / "opensearch-version").read_text() == settings.opensearch_version
    assert (settings.stack_dir / run.name).resolve() == run  # the stack folder shows where the data is
    newer = settings.model_copy(update={"opensearch_version": "9.9.9"})
    with pytest.raises(StackError, match=r"OpenSearch 2\.19\.4, which 9\.9\.9 .* `runsearch stack wipe`"):
        opensearch.prepare(newer, home, 19900, None)
    Stack(settings).wipe()
    assert not run.exists()


def test_the_heap_is_a_quarter_of_the_memory_between_1g_and_4g(tmp_path: Path) -> None:
    auto = Settings(stack_dir=tmp_path)  # type: ignore[call-arg]
    assert [opensearch.heap(auto, gib * 2**30) for gib in (2, 8, 12, 24, 64)] == ["1g", "2g", "3g", "4g", "4g"]
    assert opensearch.heap(auto.model_copy(update={"opensearch_heap": "512m"}), 64 * 2**30) == "512m"
