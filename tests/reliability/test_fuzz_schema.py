"""Property-based fuzzing of the API from its own OpenAPI schema (schemathesis): every operation, every role.

Each generated request (schemathesis's examples, coverage and fuzzing phases; valid and invalid data) is sent
four times: with a broker, an officer and an admin key, and with no key. Every response must be below 500 and
conform to the schema: a declared status code, content type, headers and body; invalid data must be refused.
Half of the valid requests to /{case_id}, /{batch_id}, /{passage_id} and /{code} name a resource that exists,
so decisions, added information and lookups run their real paths rather than stopping at 404. The offline
engine answers the classifications (the real HS 2022 runtime), so examples are capped per operation; the last
test checks that at least 1,000 requests were sent in total.
"""

from __future__ import annotations

import itertools
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks as builtin_checks
from schemathesis.specs.openapi import checks as openapi_checks

pytestmark = pytest.mark.slow

EXAMPLES = 30  # generated per operation (on top of the deterministic coverage cases); each is sent 4 times
IDENTITIES = ("broker", "officer", "admin", "anonymous")
MIN_REQUESTS = 1_000
SENT: Counter[str] = Counter()  # operation label -> requests sent
STATUSES: Counter[tuple[str, int]] = Counter()  # (identity, status class) -> responses
_TURN = itertools.count()

# The default checks but one, for a documented reason:
#   positive_data_acceptance expects every schema-valid request to succeed, but some rules cannot be written in
#   JSON Schema: an override code must be a declarable line of the loaded nomenclature, an override or a
#   rejection needs a reason, a decision on an already decided case conflicts. Those answer 422/409 by design.
# The remaining checks still hold every response to the schema (status code declared, content type, headers,
# body), and negative_data_rejection still requires invalid requests to be refused with a 4xx.
CHECKS = [
    builtin_checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.negative_data_rejection,
]


def _openapi() -> dict[str, Any]:
    """The app's OpenAPI document, built at import time (no runtime, an in-memory database) for parametrize."""
    from assistant.config import Settings
    from assistant.server import create_app

    with tempfile.TemporaryDirectory(prefix="openapi-") as home:  # the app writes its audit key there
        settings = Settings(_env_file=None, home=Path(home), database_url="sqlite:///:memory:",
                            session_secret="openapi-only")
        return create_app(settings).openapi()


# Loaded from the document rather than with from_fixture: schemathesis's lazy loader does not run on pytest 9.
schema = schemathesis.openapi.from_dict(_openapi())


@pytest.fixture(scope="module")
def fuzz_api(hs_runtime, keys_for, tmp_path_factory) -> Any:
    """The app on a fresh SQLite database with a key per role, two cases, a batch, and the rate limit lifted
    (so that 429s do not hide what the fuzzer is after)."""
    from fastapi.testclient import TestClient

    from assistant.config import Settings
    from assistant.server import create_app

    settings = Settings(_env_file=None, home=tmp_path_factory.mktemp("fuzz"), rate_limit_per_minute=10**9)
    app = create_app(settings, runtime=hs_runtime)
    keys = keys_for(app.state.desk.db)
    with TestClient(app, raise_server_exceptions=False) as client:  # runs the lifespan: the batch worker
        broker = {"Authorization": f"Bearer {keys['broker']}"}
        cases = [client.post("/v1/classifications", headers=broker, json={"description": d}).json()["id"]
                 for d in ("Men's T-shirt of cotton, knitted", "Wood screws of stainless steel")]
        batch = client.post("/v1/batches", headers=broker, json={"items": [{"description": "Fresh apples"}]})
        real = {
            "case_id": cases,
            "batch_id": [batch.json()["id"]],
            "passage_id": [hs_runtime.catalog.line_passage("610910").id],
            "code": ["6109.10", "0101", "8471 30"],
        }
        yield app, keys, real
    app.state.desk.db.dispose()
    if len(SENT) == len(list(schema.get_all_operations())):  # every operation ran (not a -k selection)
        _check_totals()


def _name_real_resources(case: Any, real: dict[str, list[str]]) -> None:
    """Every other valid request: path parameters that name existing resources instead of generated ones."""
    positive = case.meta is None or case.meta.generation.mode.is_positive
    if not positive or next(_TURN) % 2:
        return  # invalid data stays exactly as generated, so negative_data_rejection still applies
    for name in case.path_parameters:
        if name in real:
            case.path_parameters[name] = real[name][next(_TURN) % len(real[name])]


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_answers_below_500_and_as_documented(case: Any, fuzz_api: Any) -> None:
    """One generated request, sent with a broker, an officer and an admin key, then without a key."""
    app, keys, real = fuzz_api
    _name_real_resources(case, real)
    generated = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    for who in IDENTITIES:
        case.headers = {**generated, "Authorization": f"Bearer {keys[who]}"} if who in keys else dict(generated)
        SENT[case.operation.label] += 1
        response = case.call_and_validate(checks=CHECKS, app=app)
        STATUSES[who, response.status_code // 100 * 100] += 1


def _check_totals() -> None:
    """At least a thousand requests, every operation fuzzed, and every key got successful answers (checked when the
    module-scoped app closes, so that no test depends on another having run first)."""
    total = sum(SENT.values())
    print(f"\nfuzzing: {total} requests over {len(SENT)} operations; by identity and status class: "
          f"{dict(sorted(STATUSES.items()))}")
    assert total >= MIN_REQUESTS, dict(SENT)
    for who in ("broker", "officer", "admin"):  # the keys worked: each identity got successful answers
        assert STATUSES[who, 200] > 0, who
