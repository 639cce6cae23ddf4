"""Schema fuzzing: schemathesis drives every operation of the app's own OpenAPI schema.

Bounded (``MAX_EXAMPLES`` per operation) so it stays well under two minutes
on the synthetic index. Requests carry the admin key and the right user token,
so generated data reaches the write paths and the personalised search too,
not just the auth checks. Two properties must hold for every generated
request: no 5xx (an exception in the app fails the test outright), and the
response matches the schema it documents.

The schema is read from an app built with default settings at collection
time (``openapi()`` needs no model); the requests go to the app over the
synthetic index.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from api.main import create_app
from api.settings import Settings
from tests.fixtures.api import ADMIN_KEY, token_for

MAX_EXAMPLES = 25

schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())


def _headers(case) -> dict[str, str]:
    headers = {"X-Admin-Key": ADMIN_KEY}
    user_id = (case.path_parameters or {}).get("user_id")
    if user_id is None and isinstance(case.body, dict):
        user_id = case.body.get("user_id")
    if isinstance(user_id, str):
        headers.update(token_for(user_id))
    return headers


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_responses_match_the_schema(case, writable_client):
    case.call_and_validate(
        app=writable_client.app,
        headers=_headers(case),
        checks=[not_a_server_error, response_schema_conformance],
    )
