"""OpenSearch on loopback, a node per URL of the settings, run as an unprivileged user when started by root;
secured (HTTPS, users, client certificates) when given the stack's security material."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlparse

import psutil
from opensearchpy.exceptions import OpenSearchException

from runsearch import clients
from runsearch.settings import Settings
from runsearch.stack import account, security
from runsearch.stack.processes import Managed, StackError


def java_home(settings: Settings) -> Path:
    if settings.java_home:
        return settings.java_home
    if os.environ.get("JAVA_HOME"):
        return Path(os.environ["JAVA_HOME"])
    java = shutil.which("java")
    if java is None:
        raise StackError("no Java found: install a JDK 17+ or set RUNSEARCH_JAVA_HOME")
    return Path(java).resolve().parents[1]


def ports(settings: Settings) -> list[int]:
    """The HTTP port of each node: one node per URL in RUNSEARCH_OPENSEARCH_URL (transport: port + 100)."""
    return [urlparse(url).port or 9200 for url in settings.opensearch_urls]


def runtime_dir(settings: Settings, port: int) -> Path:
    return account.runtime_dir(settings, "opensearch", port)


def prepare(settings: Settings, home: Path, port: int, secured: security.Material | None) -> Path:
    run = runtime_dir(settings, port)
    link = settings.stack_dir / run.name  # where `stack status` says the data is, also when it lives elsewhere
    if link.is_symlink() and link.readlink() != run:  # left by an earlier layout of the data folders
        link.unlink()
    marker = run / "opensearch-version"  # OpenSearch cannot open data a newer version wrote
    if marker.exists() and marker.read_text() != settings.opensearch_version:
        raise StackError(f"{run} holds the data of OpenSearch {marker.read_text()}, which {settings.opensearch_version} "
                         "(RUNSEARCH_OPENSEARCH_VERSION) cannot open: set that version again, or start empty with "
                         "`runsearch stack wipe`")
    for sub in ("data", "logs", "tmp"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    marker.write_text(settings.opensearch_version)
    config = run / "config"
    if not config.exists():
        shutil.copytree(home / "config", config)
    if secured:
        shutil.copytree(home / "config" / "opensearch-security", config / "opensearch-security", dirs_exist_ok=True)
        security.install_opensearch_config(secured, config)
    # The shipped jvm.options writes GC logs and heap dumps relative to the working directory.
    options = (home / "config" / "jvm.options").read_text()
    options = re.sub(r"(=|:)logs/", rf"\g<1>{run}/logs/", options).replace("HeapDumpPath=data", f"HeapDumpPath={run}/data")
    options = re.sub(r"^-Xm[sx]\S+$", "", options, flags=re.M)  # the heap comes from OPENSEARCH_JAVA_OPTS
    (config / "jvm.options").write_text(options)
    account.hand_over(settings, run)
    if not link.exists() and run != link.resolve():
        settings.stack_dir.mkdir(parents=True, exist_ok=True)
        link.symlink_to(run)
    return run


def _cluster(settings: Settings, node: int) -> list[str]:
    """One node: single-node discovery. Several: the first is the only cluster-manager-eligible node, so losing
    any other keeps the cluster whole (two manager-eligible nodes cannot survive the loss of either)."""
    every = ports(settings)
    if len(every) == 1:
        return ["-Ediscovery.type=single-node"]
    return [
        f"-Enode.name=node-{node + 1}",
        f"-Ediscovery.seed_hosts={','.join(f'127.0.0.1:{p + 100}' for p in every)}",
        "-Ecluster.initial_cluster_manager_nodes=node-1",
        f"-Enode.roles={'cluster_manager,data,ingest' if node == 0 else 'data,ingest'}",
    ]


def start(settings: Settings, proc: Managed, home: Path, node: int, secured: security.Material | None) -> int:
    port = ports(settings)[node]
    run = prepare(settings, home, port, secured)
    argv = [
        str(home / "bin" / "opensearch"),
        *_cluster(settings, node),
        "-Enetwork.host=127.0.0.1",
        f"-Ehttp.port={port}",
        f"-Etransport.port={port + 100}",
        f"-Epath.data={run / 'data'}",
        f"-Epath.logs={run / 'logs'}",
        "-Ecluster.routing.allocation.disk.threshold_enabled=false",
        f"-Ehttp.max_content_length={settings.opensearch_max_content_length}",
        f"-Enode.attr.runsearch_stack={proc.state_dir.resolve()}",  # lets `down` recognise its own process
        *(security.opensearch_arguments() if secured else []),
    ]
    argv = account.as_service_user(settings, argv)
    env = {
        **os.environ,
        "OPENSEARCH_JAVA_HOME": str(java_home(settings)),
        "OPENSEARCH_PATH_CONF": str(run / "config"),
        "OPENSEARCH_TMPDIR": str(run / "tmp"),
        "OPENSEARCH_JAVA_OPTS": "-Xms{0} -Xmx{0}".format(heap(settings)),
    }
    return proc.start(argv, env, cwd=run)


def heap(settings: Settings, memory: int | None = None) -> str:
    """The heap of each node: as set, or a quarter of the machine's memory (the rest is the page cache the index is
    searched from, and the other servers), at least 1g and at most 4g."""
    if settings.opensearch_heap != "auto":
        return settings.opensearch_heap
    quarter_gib = (memory if memory is not None else psutil.virtual_memory().total) // 4 // 2**30
    return f"{min(max(quarter_gib, 1), 4)}g"


def healthy(settings: Settings) -> bool:
    """Every node of the settings has joined, and every primary shard is assigned."""
    try:
        health = clients.opensearch(settings, timeout=3).cluster.health()
    except (OpenSearchException, OSError):
        return False
    return health["status"] in ("yellow", "green") and health["number_of_nodes"] >= len(ports(settings))


def version(settings: Settings) -> str | None:
    try:
        return str(clients.opensearch(settings, timeout=3).info()["version"]["number"])
    except (OpenSearchException, OSError, KeyError):
        return None
