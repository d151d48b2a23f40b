"""Background processes with pid files: start detached, recognise our own, stop exactly those."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from runsearch.errors import RunsearchError


@dataclass(frozen=True)
class Managed:
    """A server process the stack owns, identified by its pid file and a marker in its command line."""

    name: str
    state_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid of our running process, or None (a stale pid file or a reused pid is not ours)."""
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = _cmdline(pid)
        except (OSError, ValueError, psutil.Error):
            return None
        return pid if str(self.state_dir.resolve()) in cmdline else None

    def start(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> int:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                list(argv), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        return proc.pid

    def alive(self) -> bool:
        pid = self.pid()
        return pid is not None and _running(pid)

    def stop(self, timeout: float = 60.0) -> bool:
        """SIGTERM, then SIGKILL after `timeout`; returns once the process is gone. True if one was stopped."""
        pid = self.pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _running(pid):
            os.kill(pid, signal.SIGKILL)
            while _running(pid):
                time.sleep(0.1)
        return True

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _cmdline(pid: int) -> str:
    """A process's command line (psutil: /proc here, the system's own interface elsewhere). It reads empty for a
    moment while the process execs (setpriv starting a server, say): read again then, or a just-started server
    would look gone."""
    cmdline: list[str] = []
    for _ in range(50):
        cmdline = psutil.Process(pid).cmdline()
        if cmdline:
            break
        time.sleep(0.01)
    return "\0".join(cmdline)


def _running(pid: int) -> bool:
    """True while the process exists and is not a zombie (a zombie child of ours is reaped here)."""
    try:
        if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            return True
    except psutil.Error:
        return False
    with contextlib.suppress(ChildProcessError):  # not our child: nothing to reap
        os.waitpid(pid, os.WNOHANG)
    return False


def wait_until(check, timeout: float, proc: Managed) -> None:
    """Poll `check()` until it is true; fail with the log tail if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if not proc.alive():
            raise StackError(f"{proc.name} exited during start-up. Last lines of {proc.log_file}:\n{proc.log_tail()}")
        time.sleep(0.5)
    raise StackError(f"{proc.name} did not answer within {timeout:.0f}s. Last lines of {proc.log_file}:\n{proc.log_tail()}")


class StackError(RunsearchError):
    pass
