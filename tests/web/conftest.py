"""Fixtures for the page tests: the English catalogue compiled, and a page client."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from app.web.i18n import compile_catalogues
from tests.web.pages_client import Pages


@pytest.fixture(scope="session", autouse=True)
def _catalogues() -> None:
    compile_catalogues()


@pytest.fixture()
def pages(client: FlaskClient) -> Pages:
    return Pages(client)
