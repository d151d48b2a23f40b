"""Configuration is documented in one place: README's table lists every setting."""

from pathlib import Path

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
