"""Fetch the server distributions by Maven coordinates into a cache that later runs reuse."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from runsearch.errors import RunsearchError

OPENSEARCH_ARTIFACT = "org.opensearch.distribution.integ-test-zip:opensearch:{version}:zip"
# The minimal distribution lacks the analysis module every full distribution ships (the runs index needs its
# `ngram` tokenizer). Maven has its jar, not the module folder, so the folder's descriptor is written here.
ANALYSIS_ARTIFACT = "org.opensearch.plugin:analysis-common:{version}"
# The secured stack's plugin; its version is the server's plus a fourth number, and must match it exactly.
SECURITY_ARTIFACT = "org.opensearch.plugin:opensearch-security:{version}.0:zip"
ANALYSIS_DESCRIPTOR = """description=Adds "built in" analyzers to OpenSearch.
version={version}
name=analysis-common
classname=org.opensearch.analysis.common.CommonAnalysisPlugin
java.version=11
opensearch.version={version}
custom.foldername=
extended.plugins=
has.native.controller=false
"""

# Kafka's server jars plus a log4j2 binding for its slf4j 1.x logging, so its log is readable.
KAFKA_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>runsearch.local</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>{version}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>
  </dependencies>
</project>
"""

COMPLETE = ".complete"


class FetchError(RunsearchError):
    pass


def _mvn(args: list[str], cwd: Path) -> None:
    if shutil.which("mvn") is None:
        raise FetchError("Maven (`mvn`) is needed to fetch OpenSearch and Kafka; install it (Debian: apt-get install maven)")
    proc = subprocess.run(["mvn", "-B", "-q", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise FetchError(f"mvn {' '.join(args)} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")


def _fill_once(target: Path, fill) -> Path:
    """Run `fill(tmpdir)` and move the result to `target`, unless a complete copy is cached."""
    if (target / COMPLETE).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as tmp:
        staging = Path(tmp) / "out"
        staging.mkdir()
        fill(staging)
        (staging / COMPLETE).touch()
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    target.chmod(0o755)
    return target


def opensearch_home(cache_dir: Path, version: str) -> Path:
    """The unpacked OpenSearch distribution (no bundled JDK, no plugins) with the analysis module added."""

    def fill(staging: Path) -> None:
        _copy_artifact(OPENSEARCH_ARTIFACT.format(version=version), staging)
        archive = next(staging.glob("opensearch-*.zip"))
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(staging)
        archive.unlink()
        top = staging / f"opensearch-{version}"
        for item in top.iterdir():
            item.rename(staging / item.name)
        top.rmdir()
        for script in (staging / "bin").iterdir():
            script.chmod(0o755)  # zipfile drops the executable bits

    home = _fill_once(cache_dir / f"opensearch-{version}", fill)
    _fill_once(home / "modules" / "analysis-common", lambda staging: _analysis_module(staging, version))
    return home


def secured_opensearch_home(cache_dir: Path, version: str) -> Path:
    """A copy of the distribution with the security plugin installed as `opensearch-plugin install` would: the
    plugin under plugins/, its configuration under config/opensearch-security/."""
    plain = opensearch_home(cache_dir, version)

    def fill(staging: Path) -> None:
        shutil.copytree(plain, staging, symlinks=True, dirs_exist_ok=True)
        (staging / COMPLETE).unlink()
        download = staging / ".download"
        download.mkdir()
        _copy_artifact(SECURITY_ARTIFACT.format(version=version), download)
        plugin = staging / "plugins" / "opensearch-security"
        with zipfile.ZipFile(next(download.glob("opensearch-security-*.zip"))) as zf:
            zf.extractall(plugin)
        shutil.rmtree(download)
        (plugin / "config").rename(staging / "config" / "opensearch-security")

    return _fill_once(cache_dir / f"opensearch-{version}-security", fill)


def _copy_artifact(coordinates: str, staging: Path) -> None:
    _mvn(["dependency:copy", f"-Dartifact={coordinates}", f"-DoutputDirectory={staging}"], cwd=staging)


def _analysis_module(staging: Path, version: str) -> None:
    _copy_artifact(ANALYSIS_ARTIFACT.format(version=version), staging)
    (staging / "plugin-descriptor.properties").write_text(ANALYSIS_DESCRIPTOR.format(version=version))


def kafka_libs(cache_dir: Path, version: str) -> Path:
    """A folder of every jar the Kafka broker needs at runtime."""

    def fill(staging: Path) -> None:
        (staging / "pom.xml").write_text(KAFKA_POM.format(version=version))
        _mvn(["dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={staging / 'libs'}"], cwd=staging)

    return _fill_once(cache_dir / f"kafka-{version}", fill) / "libs"
