"""A bounded schemathesis run over the OpenAPI schema, as each role and unauthenticated: no request,
valid or not, gets a server error (5xx). A 5xx makes the tablet retry for ever, and a crash is
where a leak or a partial write hides; bad input must be a 4xx with a code.

Only that check is made: schema conformance (every documented status, every response schema) is
not the point here. The run is bounded (few examples per operation and generation mode, no
deadline) so that it stays in the ordinary test run.

The push route reads its body as raw bytes, so the schema has no push body to generate from:
tests/sync/test_push_fuzz.py fuzzes push envelopes and changes with hypothesis instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from sqlalchemy.engine import Engine

from tests.conftest import PASSWORD, SYNC_HEADERS, demo_database, make_settings

# per operation and role, valid and invalid cases mixed; RUHU_FUZZ_EXAMPLES=500 for a longer hunt
MAX_EXAMPLES = int(os.environ.get("RUHU_FUZZ_EXAMPLES", "40"))
TOKEN_ENDPOINT = "/api/v1/auth/token"  # the same for every role: fuzzed once, unauthenticated

ROLES = {
    "village_cadre": "demo_cadre",
    "first_secretary": "demo_secretary",
    "township_clerk": "demo_clerk",
    "county_admin": "demo_admin",
    "unauthenticated": None,
}


@pytest.fixture(scope="module")
def fuzz_engine(fresh_database) -> Iterator[Engine]:
    """The demo county in a database of its own: the run writes (pushes, uploads, resolutions)."""
    eng = demo_database(fresh_database, "ruhu_fuzz", defaults=True)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def fuzz_app(fuzz_engine: Engine) -> FastAPI:
    from server.app import create_app

    return create_app(make_settings(), engine=fuzz_engine)


@pytest.fixture(scope="module")
def role_headers(fuzz_app: FastAPI) -> dict[str, dict[str, str]]:
    """Request headers per role, all logged in before any fuzzing (fuzzing the token endpoint
    trips the login throttle of the test client's address)."""
    headers = {}
    with TestClient(fuzz_app) as client:
        for role, username in ROLES.items():
            if username is None:
                headers[role] = dict(SYNC_HEADERS)
                continue
            resp = client.post("/api/v1/auth/token", data={
                "username": username, "password": PASSWORD, "device_id": f"tab-fuzz-{role}"})
            assert resp.status_code == 200, resp.text
            headers[role] = {"Authorization": f"Bearer {resp.json()['access_token']}",
                             **SYNC_HEADERS}
    return headers


@pytest.mark.parametrize("role", list(ROLES))
def test_no_server_errors_for_any_input(fuzz_app: FastAPI,
                                        role_headers: dict[str, dict[str, str]],
                                        role: str) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    headers = role_headers[role]
    failures: dict[tuple[str, int | str], str] = {}

    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == TOKEN_ENDPOINT and ROLES[role] is not None:
            continue
        strategy = st.one_of(operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                             operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))

        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=False,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def call(case: Any) -> None:
            label = f"{case.method} {case.path}"
            try:
                status: int | str = case.call(headers=headers).status_code
            except Exception as exc:  # an exception out of the app is a 500 as well
                status = type(exc).__name__
            if isinstance(status, str) or status >= 500:
                failures.setdefault((label, status), _describe(case, headers))

        call()

    assert not failures, f"{len(failures)} kind(s) of server error as {role}:\n" + "\n".join(
        f"  {label} → {status}: {example}" for (label, status), example in failures.items())


def _describe(case: Any, headers: dict[str, str]) -> str:
    try:
        return str(case.as_curl_command(headers=headers))[:400]
    except Exception:  # a case that cannot even be written as a command
        return repr(case)[:400]
