"""Web routes: the case diagram (流程图) — its data, and the bpmn-js viewer served from node_modules.

bpmn-js is installed by the set-up (`npm ci`, pinned in package.json/package-lock.json) and served
by the app itself: the machines that run this may have no internet, so there is no CDN.
"""

from __future__ import annotations

from typing import Any

from flask import abort, jsonify, send_from_directory
from sqlalchemy.orm import Session

from app.services import diagram
from app.services.auth import Principal
from app.services.errors import ServiceError
from app.settings import ROOT
from app.web import bp
from app.web.session import page

BPMN_JS_DIST = ROOT / "node_modules" / "bpmn-js" / "dist"
# Only the viewer and its stylesheets/fonts are served, not the whole node_modules folder.
VIEWER_FILES = ("bpmn-navigated-viewer.production.min.js", "bpmn-navigated-viewer.development.js")


@bp.get("/cases/<int:case_id>/diagram.json")
@page
def case_diagram(s: Session, principal: Principal, case_id: int) -> Any:
    try:
        return jsonify(diagram.case_diagram(s, principal, case_id))
    except ServiceError as exc:
        abort(exc.status, exc.message)


@bp.get("/vendor/bpmn-js/<path:filename>")
def bpmn_js(filename: str) -> Any:
    if filename not in VIEWER_FILES and not filename.startswith("assets/"):
        abort(404)
    if not BPMN_JS_DIST.is_dir():
        abort(404, "bpmn-js is not installed: run `npm ci` in the project folder")
    return send_from_directory(BPMN_JS_DIST, filename, max_age=3600)
