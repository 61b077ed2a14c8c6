import os
import pytest
import schemathesis
from hypothesis import settings, HealthCheck
from app import create_app
from app.extensions import db
from tests.conftest import make_user

saved = os.environ.pop("TEST_DATABASE_URL", None)
app = create_app("testing")
if saved is not None:
    os.environ["TEST_DATABASE_URL"] = saved
with app.app_context():
    db.create_all()
    make_user("alice")

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app).include(method="GET")

@schema.parametrize()
@settings(max_examples=300, deadline=None)
def test_api(case):
    case.call_and_validate()
