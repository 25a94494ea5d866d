"""A test client that uses the pages as a person does: log in on the login page, take the CSRF
token from each page, post the forms."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import PASSWORD

_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class Pages:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.token = ""

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        resp = self.client.get(path, **kwargs)
        if resp.mimetype == "text/html" and (match := _TOKEN.search(resp.get_data(as_text=True))):
            self.token = match.group(1)
        return resp

    def post(self, path: str, data: dict[str, Any] | None = None, token: bool = True, **kwargs: Any) -> TestResponse:
        if token and not self.token:
            self.get("/login")
        body = dict(data or {})
        if token:
            body["csrf_token"] = self.token
        return self.client.post(path, data=body, **kwargs)

    def login(self, username: str, password: str = PASSWORD) -> TestResponse:
        self.get("/login")
        resp = self.post("/login", {"username": username, "password": password})
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        self.token = ""  # a login starts a new session, with a new token
        return resp

    def logout(self) -> None:
        self.get("/login")
        self.post("/logout")


def text(resp: TestResponse) -> str:
    return resp.get_data(as_text=True)


def field_errors(resp: TestResponse) -> list[str]:
    return re.findall(r'class="field-error" data-field="([^"]*)"', text(resp))


def form_data(form: dict[str, Any]) -> dict[str, str]:
    """A JSON form answer (tests/integration/flow.py FORMS) as the inputs a person fills in."""
    data: dict[str, str] = {}
    for name, value in form.items():
        if isinstance(value, bool):
            data[name] = "true" if value else "false"
        elif isinstance(value, list):
            data[name] = "\n".join(str(v) for v in value)
        else:
            data[name] = str(value)
    return data
