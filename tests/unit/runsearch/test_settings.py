"""Configuration is documented in one place (README's table lists every setting) and handed on whole."""

from pathlib import Path

import pytest
from pydantic import SecretStr

from runsearch.indexer.tables import topics
from runsearch.settings import Settings

README = (Path(__file__).parents[3] / "README.md").read_text()


def test_readme_documents_every_setting() -> None:
    missing = [name for name in Settings.model_fields if f"`RUNSEARCH_{name.upper()}`" not in README]
    assert missing == []


def test_topics_follow_prefix_and_overrides() -> None:
    settings = Settings(topic_prefix="cdc", topic_overrides={"tasks": "custom.tasks"})
    assert settings.topic("workflow_runs") == "cdc.public.workflow_runs"
    assert topics(settings)["custom.tasks"] == "tasks"


def test_a_child_process_reads_back_every_setting_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    given = Settings(opensearch_ca_file=Path("/etc/ca.pem"), opensearch_password=SecretStr("p w"),  # type: ignore[call-arg]
                     topic_overrides={"tasks": "cdc.tasks"}, opensearch_verify_certs=False, batch_size=7)
    for name, value in given.environ().items():
        monkeypatch.setenv(name, value)
    assert Settings() == given
