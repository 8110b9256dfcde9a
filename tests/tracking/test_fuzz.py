"""schemathesis over the service's OpenAPI schema, on a real server: no input makes it answer 5xx.

Bounded: ten valid and ten invalid generated requests per operation (tokens, bodies, headers, content types),
with every provider configured so the signature paths run, not just 'not configured'.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from aicmo.storage.db import make_engine
from aicmo.storage.migrate import upgrade
from tests.tracking.conftest import start_service
from tests.tracking.webhook_cases import CASES

MAX_EXAMPLES = 10


@pytest.fixture(scope="module")
def tracking_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    engine = make_engine(f"sqlite:///{tmp / 'store.db'}")
    upgrade(engine)
    extra: dict[str, object] = {}
    for case in CASES.values():
        extra.update(case.settings)
    gen = start_service(tmp, engine, **extra)
    svc = next(gen)
    yield schemathesis.openapi.from_url(f"{svc.url}/openapi.json")
    for _ in gen:
        pass
    engine.dispose()


def test_no_input_gets_a_server_error(tracking_schema: schemathesis.BaseSchema) -> None:
    operations = [result.ok() for result in tracking_schema.get_all_operations()]
    assert len(operations) >= 10
    failures: list[str] = []
    for operation, mode in itertools.product(operations, (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)):
        if mode is GenerationMode.NEGATIVE and not operation.get_request_payload_content_types():
            continue  # free-form string tokens: nothing schema-invalid to generate

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def call(case: schemathesis.Case) -> None:
            response = case.call(timeout=30)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}")

        try:
            call()
        except Unsatisfiable:  # an operation without parameters or body has no invalid input
            assert mode is GenerationMode.NEGATIVE
    assert failures == []
