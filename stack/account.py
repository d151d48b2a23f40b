"""The unprivileged account servers run as when the stack is started by root (OpenSearch and
PostgreSQL both refuse to run as root)."""

from __future__ import annotations

import hashlib
import os
import pwd
import subprocess
from collections.abc import Sequence
from pathlib import Path

from runsearch.settings import Settings


def service_account(settings: Settings) -> tuple[int, int] | None:
    """(uid, gid) to run servers as, creating the system user once; None when not root."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(settings.service_user)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        settings.service_user], check=True)
        entry = pwd.getpwnam(settings.service_user)
    return entry.pw_uid, entry.pw_gid


def as_service_user(settings: Settings, argv: Sequence[str]) -> list[str]:
    """`argv` run as the service account when we are root, else as is."""
    account = service_account(settings)
    if account is None:
        return list(argv)
    return ["setpriv", f"--reuid={account[0]}", f"--regid={account[1]}", "--init-groups", "--", *argv]


def runtime_dir(settings: Settings, server: str, port: int) -> Path:
    """Where a server keeps its config, data and logs: the stack folder's own. As root, somewhere the service
    account can reach (the checkout may not be), keyed by the stack folder so that no two stacks share data."""
    name = f"{server}-{port}"
    if os.geteuid() == 0:
        return Path("/var/lib/runsearch") / hashlib.sha256(str(settings.stack_dir.resolve()).encode()).hexdigest()[:12] / name
    return settings.stack_dir.resolve() / name


def hand_over(settings: Settings, folder: Path) -> None:
    """Give a folder (and everything in it) to the service account when we are root."""
    account = service_account(settings)
    if account is None:
        return
    folder.parent.chmod(0o755)
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, *account)
