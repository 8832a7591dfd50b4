"""A real S3-protocol server for tests: moto's server, started on 127.0.0.1 in its own process.

The server process is started once per test session that asks for it; a test that needs it
is skipped, saying why, only where it cannot start (moto not installed, or it did not answer).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Iterator

import pytest

START_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Starts ``moto.server`` on a free 127.0.0.1 port; yields its endpoint URL."""
    try:
        import moto.server  # noqa: F401
    except ImportError as e:
        pytest.skip(f"the S3 test server cannot start: moto[server] is not installed ({e}); "
                    "install requirements-dev.txt")
    port = _free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    # Its request log goes to a file: a pipe nobody reads fills up and stalls the server.
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                             "-p", str(port)], stdout=log, stderr=log, env=env)
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while not _answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                err = log.read().decode(errors="replace")[-500:]
                pytest.skip(f"the S3 test server (moto) did not start on 127.0.0.1:{port}: "
                            f"{err}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def s3_store(endpoint: str, prefix: str = "store", **kwargs):
    """A fresh ``S3Store`` in a new bucket of the test server."""
    from cerebro.storage import S3Store

    bucket = f"cerebro-{uuid.uuid4().hex[:12]}"
    return S3Store(f"s3://{bucket}/{prefix}", endpoint_override=endpoint, access_key="test",
                   secret_key="test", region="us-east-1", create_bucket=True, **kwargs)
