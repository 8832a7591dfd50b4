"""Schemathesis fuzzes the dashboard's OpenAPI spec: no request may cause a server error."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from .conftest import AUTH, TOKEN, fill  # noqa: E402


def _app():
    """The app on a made-up search's records, in a directory removed at exit."""
    import atexit
    import shutil
    import tempfile

    from cerebro.dashboard import create_app

    where = tempfile.mkdtemp(prefix="cerebro-fuzz-")
    atexit.register(shutil.rmtree, where, True)
    fill(where)
    return create_app(where, token=TOKEN)


# Built at import (schemathesis's fixture-based loader does not work with pytest 9).
schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_causes_a_server_error(case):
    case.call_and_validate(headers=AUTH, checks=[not_a_server_error])
    unauthenticated = case.call()
    assert unauthenticated.status_code < 500
    if case.path != "/api/health":  # refused (401; or 405/422 for what is malformed anyway)
        assert 400 <= unauthenticated.status_code < 500
