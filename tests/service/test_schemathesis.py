"""Property-based run over the OpenAPI schema (schemathesis): no generated request, valid or
not, may crash the service or get an answer the schema does not document."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from flutter_home import copy, make_keys, wait_ready
from hypothesis import HealthCheck, given, settings

from roost.service import ServiceSettings, create_app

# Examples per operation: 27 operations x this, about 40 s on two busy cores.
EXAMPLES = 8
# Operations whose valid input depends on the catalog (an event must name a stored item):
# a schema cannot say which ids exist, so a well-formed batch naming none is rightly 422.
STATEFUL = {"POST /events"}
REQUEST_ARGS = ("method", "url", "params", "headers", "json", "content", "files")


@pytest.fixture(scope="module")
def live(template, tmp_path_factory):
    home = copy(template, tmp_path_factory.mktemp("schemathesis") / "home")
    keys = make_keys(home)
    with TestClient(create_app(ServiceSettings(home=home))) as client:
        wait_ready(client)
        yield client, keys


def check_operation(op, client, keys) -> None:
    @given(case=op.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def run(case):
        # The admin key in place of whatever auth was generated (the auth matrix tests roles).
        headers = {
            k: v
            for k, v in (case.headers or {}).items()
            if k.lower() not in ("x-api-key", "authorization")
        }
        case.headers = {**headers, "X-API-Key": keys["admin"]}
        kwargs = case.as_transport_kwargs(base_url="http://testserver")
        data = kwargs.pop("data", None)
        if data is not None:  # raw bodies: httpx calls them content
            kwargs["content"] = data
        kwargs = {k: v for k, v in kwargs.items() if k in REQUEST_ARGS and v is not None}
        response = client.request(**kwargs)
        assert response.status_code < 500, response.text
        # ignored_auth re-sends probes through schemathesis' own transport (a second app
        # start); test_auth.py checks every route without, with a wrong and with each key.
        excluded = [schemathesis.checks.ignored_auth]
        if op.label in STATEFUL:
            excluded.append(schemathesis.checks.positive_data_acceptance)
        case.validate_response(response, excluded_checks=excluded)

    run()


@pytest.mark.slow
def test_schema_conformance(live):
    client, keys = live
    schema = schemathesis.openapi.from_dict(client.app.openapi())
    failures = []
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) > 20
    for op in operations:
        try:
            check_operation(op, client, keys)
        except Exception as e:  # report every failing operation, not just the first
            failures.append(f"{op.label}: {e}")
    assert not failures, "\n\n".join(failures)
