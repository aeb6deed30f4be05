"""schemathesis against the app's own OpenAPI document, in-process (ASGI), bounded examples."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from strideguard.app import App
from strideguard.settings import Settings
from strideguard.web.app import create_app
from tests.web.conftest import RUN, TestClient, make_user, sign_in, upload

EXAMPLES = 8


@pytest.fixture(scope="module")
def contract_app(tmp_path_factory: pytest.TempPathFactory, samples_dir: Path) -> Iterator[Any]:
    data_dir = tmp_path_factory.mktemp("contract")
    core = App(
        Settings(data_dir=data_dir, import_workers=1, secret_key="contract", max_upload_mb=1)
    )
    web = create_app(core)
    make_user(core, "a@example.com")
    with TestClient(web) as client:
        csrf = sign_in(client, "a@example.com")
        upload(client, [(RUN, (samples_dir / RUN).read_bytes())], csrf)
        token = client.post("/api/tokens", json={"name": "st"}, headers={"X-CSRF-Token": csrf})
        web.state.test_token = token.json()["token"]
    yield web
    core.close()


def test_api_matches_its_openapi(contract_app: Any) -> None:
    """Every operation, positive and negative examples, every built-in check."""
    api = schemathesis.openapi.from_asgi("/openapi.json", contract_app)
    auth = {"Authorization": f"Bearer {contract_app.state.test_token}"}
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            if case.method.upper() == "POST" and case.path == "/api/account/delete":
                case.body = {"password": "wrong password"}  # keep the account under test
            # A log's date must lie between 1990 and the athlete's today: OpenAPI cannot say
            # so for a `format: date` string, so schema-valid dates may be refused with 422.
            excluded = [positive_data_acceptance] if case.path.startswith("/api/logs/") else []
            case.call_and_validate(headers=auth, excluded_checks=excluded)

        started = time.monotonic()
        try:
            check()
        finally:
            print(f"{operation.method} {operation.path}: {time.monotonic() - started:.1f}s")
