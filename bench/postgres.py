"""A PostgreSQL server of the benchmark's own on loopback (Debian's package), loaded with the platform's tables."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import psycopg

from runsearch.bench.platform import INDEXES, columns, copy_values, create_tables
from runsearch.bench.snapshot import Snapshot
from runsearch.settings import Settings
from runsearch.stack import account
from runsearch.stack.processes import Managed, StackError, wait_until


def _binaries() -> Path:
    """The newest installed PostgreSQL's bin folder; installs Debian's package when root and none is there."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], check=True, capture_output=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise StackError("PostgreSQL is not installed: `apt-get install postgresql` (Debian's package)")
    return Path(found[-1]).parent


class Postgres:
    def __init__(self, settings: Settings, port: int) -> None:
        self.settings, self.port = settings, port
        self.proc = Managed("postgres", settings.stack_dir)
        self.data = account.runtime_dir(settings, "postgres", port) / "data"
        self.dsn = f"host=127.0.0.1 port={port} user=postgres dbname=postgres"

    def start(self, shared_buffers: str = "2GB") -> None:
        """A fresh cluster every time (the benchmark loads it from scratch)."""
        self.stop()
        bin_dir = _binaries()
        shutil.rmtree(self.data, ignore_errors=True)
        self.data.mkdir(parents=True)
        account.hand_over(self.settings, self.data.parent)
        subprocess.run(account.as_service_user(self.settings, [
            str(bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
            "--locale=C.UTF-8"]), check=True, capture_output=True)
        self.proc.start(account.as_service_user(self.settings, [
            str(bin_dir / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.data),
            "-c", "listen_addresses=127.0.0.1",
            "-c", f"cluster_name={self.settings.stack_dir.resolve()}",  # lets stop() recognise its own process
            "-c", f"shared_buffers={shared_buffers}", "-c", "effective_cache_size=8GB", "-c", "work_mem=64MB",
            "-c", "max_wal_size=8GB", "-c", "jit=off",
            # Durability is irrelevant to a read benchmark and would only slow the load.
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        ]), os.environ, cwd=self.data)
        wait_until(self._answers, self.settings.startup_timeout_seconds, self.proc)

    def _answers(self) -> bool:
        try:
            with psycopg.connect(self.dsn, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def load(self, snapshot: Snapshot) -> None:
        """The snapshot into the platform's tables, then its indexes and fresh planner statistics."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            for statement in create_tables():
                conn.execute(statement)
            for table, rows in snapshot.rows.items():
                names = columns(table)
                with conn.cursor().copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
                    for values in rows.values():
                        copy.write_row(copy_values(table, dict(zip(names, values, strict=True))))
            for statement in INDEXES:
                conn.execute(statement)
            conn.execute("VACUUM ANALYZE")

    def stop(self) -> None:
        self.proc.stop()
