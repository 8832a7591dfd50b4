"""The S3-protocol test server (moto on 127.0.0.1), shared by the storage tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def s3_endpoint():
    from s3_server import moto_server

    with moto_server() as endpoint:
        yield endpoint
