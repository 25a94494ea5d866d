"""Checks every request passes before any view runs: no NUL character in the path, the query
string or a form field. PostgreSQL cannot hold NUL in text, so without this a NUL reached a query and
answered 500; now it is a 400 that says what is wrong."""

from __future__ import annotations

from flask import Flask, abort, request

NUL = "\x00"
NUL_MESSAGE = "请求中含有空字符（NUL，\\x00），已拒绝 / the request contains a NUL character (\\x00)"


def has_nul(values: object) -> bool:
    """Whether a NUL occurs in a string, or in the keys or values of a multi-dict."""
    if isinstance(values, str):
        return NUL in values
    items = getattr(values, "items", None)
    if items is None:
        return False
    return any(NUL in key or (isinstance(value, str) and NUL in value) for key, value in items(multi=True))


def init_request_checks(app: Flask) -> None:
    """Register the NUL check; must run after the upload body limit is set (it reads the form) and
    before anything else reads the request's text."""

    @app.before_request
    def _refuse_nul() -> None:
        where = _nul_in_request()
        if where:
            abort(400, f"{NUL_MESSAGE} ({where})")


def _nul_in_request() -> str | None:
    if NUL in request.path:
        return "path"
    if has_nul(request.args):
        return "query"
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.mimetype in (
        "application/x-www-form-urlencoded", "multipart/form-data",
    ) and has_nul(request.form):
        return "form"
    return None
