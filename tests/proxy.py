"""A loopback TCP proxy that a test can cut and restore, to make a server unreachable for a while, or that holds
the server's next answers back, to make them come too late."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class Proxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        self.late, self.late_seconds = 0, 0.0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up.is_set():
                client.close()
                continue
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.connections += [client, server]
            for a, b, answers in ((client, server, False), (server, client, True)):
                threading.Thread(target=self._pipe, args=(a, b, answers), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, answers: bool) -> None:
        try:
            while data := source.recv(65536):
                if answers and self._held():
                    time.sleep(self.late_seconds)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):  # already closed
                    s.shutdown(socket.SHUT_RDWR)

    def _held(self) -> bool:
        """Whether to hold this answer back (one of the `late` next ones)."""
        with self.lock:
            if self.late <= 0:
                return False
            self.late -= 1
            return True

    def answer_late(self, count: int, seconds: float) -> None:
        """Hold each of the server's next `count` answers back for `seconds`: a client whose timeout is shorter gives
        up on requests the server carried out."""
        with self.lock:
            self.late, self.late_seconds = count, seconds

    def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        self.up.clear()
        with self.lock:
            for s in self.connections:
                with contextlib.suppress(OSError):  # already closed
                    s.shutdown(socket.SHUT_RDWR)
            self.connections.clear()

    def restore(self) -> None:
        self.up.set()

    def close(self) -> None:
        self.cut()
        self.listener.close()
