"""The authenticated control channel between the driver and its workers.

Built on ``multiprocessing.connection`` with HMAC challenge/response (``authkey``): a peer
that does not hold the run's fresh secret fails the handshake before a single byte of its
payload is read, so nothing from an unauthenticated peer is ever unpickled. Every message
is size-bounded.
"""

from __future__ import annotations

import pickle
import queue
import secrets
import threading
from multiprocessing.connection import Client, Connection, Listener
from typing import Any

from cerebro._logging import get_logger

log = get_logger("channel")

MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def new_secret() -> bytes:
    """A fresh 32-byte secret for one run."""
    return secrets.token_bytes(32)


def send(conn: Connection, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    if len(data) > MAX_MESSAGE_BYTES:
        raise ValueError(f"control message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
    conn.send_bytes(data)


def recv(conn: Connection) -> Any:
    """Receives one message; only called on authenticated connections."""
    return pickle.loads(conn.recv_bytes(MAX_MESSAGE_BYTES))


def connect(address: tuple[str, int], secret: bytes, timeout: float = 60.0) -> Connection:
    """Worker side: connects to the driver and proves it holds ``secret``."""
    import socket
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            return Client(address, authkey=secret)
        except (ConnectionRefusedError, socket.timeout, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class ControlServer:
    """Driver side: accepts authenticated worker connections in a background thread.

    Each accepted worker first sends ``{"hello": partition, ...}``; the connection is then
    handed out through :meth:`next_worker`. Failed handshakes are logged and counted, and
    never disturb the search.
    """

    def __init__(self, host: str, secret: bytes, notify=None, port: int = 0,
                 bind: str | None = None):
        """Listens on ``bind`` (default ``host``) at ``port`` (0: any free port); workers
        are told to connect to ``host`` at that port."""
        self.secret = secret
        self.notify = notify  # called (from the accept thread) after a worker connected
        self._listener = Listener((bind or host, port), authkey=secret)
        self.address: tuple[str, int] = (host, self._listener.address[1])
        self.refused = 0
        self._ready: "queue.Queue[tuple[int, Connection, dict]]" = queue.Queue()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name="cerebro-accept", daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                conn = self._listener.accept()
            except Exception as e:  # noqa: BLE001 - bad peers must not stop the server
                if self._closed.is_set():
                    return
                self.refused += 1
                log.warning("refused a control-channel connection: %s", type(e).__name__)
                continue
            try:
                if not conn.poll(30):
                    raise TimeoutError("no hello within 30 s")
                hello = recv(conn)
                self._ready.put((int(hello["hello"]), conn, hello))
                if self.notify is not None:
                    self.notify()
            except Exception as e:  # noqa: BLE001
                log.warning("dropped a worker connection during hello: %s", e)
                conn.close()

    def next_worker(self, timeout: float) -> tuple[int, Connection, dict]:
        """Returns (partition, connection, hello) of the next worker that connected."""
        return self._ready.get(timeout=timeout)

    def connected(self) -> list[tuple[int, Connection, dict]]:
        """The workers that connected since the last call, without waiting."""
        out = []
        while True:
            try:
                out.append(self._ready.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        self._closed.set()
        try:
            import socket

            with socket.create_connection(self.address, timeout=1):
                pass  # wakes the accept() call so the thread sees it is closed
        except OSError:
            pass
        try:
            self._listener.close()
        except OSError:
            pass
