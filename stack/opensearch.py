"""A single-node OpenSearch on loopback, run as an unprivileged user when started by root; secured (HTTPS, users,
client certificates) when given the stack's security material."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

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


def runtime_dir(settings: Settings) -> Path:
    return account.runtime_dir(settings, "opensearch", settings.opensearch_port)


def prepare(settings: Settings, home: Path, secured: security.Material | None) -> Path:
    run = runtime_dir(settings)
    for sub in ("data", "logs", "tmp"):
        (run / sub).mkdir(parents=True, exist_ok=True)
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
    if settings.stack_dir.resolve() != run.parent:
        link = settings.stack_dir / "opensearch"
        if not link.exists() and run != link.resolve():
            settings.stack_dir.mkdir(parents=True, exist_ok=True)
            link.symlink_to(run)
    return run


def start(settings: Settings, proc: Managed, home: Path, secured: security.Material | None) -> int:
    run = prepare(settings, home, secured)
    port = settings.opensearch_port
    argv = [
        str(home / "bin" / "opensearch"),
        "-Ediscovery.type=single-node",
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
        "OPENSEARCH_JAVA_OPTS": f"-Xms{settings.opensearch_heap} -Xmx{settings.opensearch_heap}",
    }
    return proc.start(argv, env, cwd=run)


def healthy(settings: Settings) -> bool:
    try:
        return clients.opensearch(settings, timeout=3).cluster.health()["status"] in ("yellow", "green")
    except (OpenSearchException, OSError):
        return False


def version(settings: Settings) -> str | None:
    try:
        return str(clients.opensearch(settings, timeout=3).info()["version"]["number"])
    except (OpenSearchException, OSError, KeyError):
        return None
