"""Fixtures for the API tests, on top of tests/conftest.py."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.models import User
from tests.api.helpers import create_post, get_token
from tests.helpers import make_user


@pytest.fixture
def bob(app: Flask, user: User) -> User:
    """A second user, created after alice."""
    return make_user("bob")


@pytest.fixture
def bob_token(client: FlaskClient, bob: User) -> str:
    return get_token(client, "bob")


@pytest.fixture
def post(client: FlaskClient, token: str) -> dict[str, Any]:
    """A post by alice, as the API returned it."""
    return create_post(client, token, "Alice's post", "Written by alice.")
