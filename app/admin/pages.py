"""The process admin's pages (流程版本). Reading versions and their differences needs ``administer``
or ``audit`` (an auditor sees what changed); everything that changes data needs ``administer``."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import (
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from app.admin import bp, modeling
from app.definitions import bundles, drafts, scenarios, versions
from app.definitions.api import require_reader
from app.definitions.compare import compare
from app.engine import bundle_hash
from app.models import ProcessVersion
from app.services.auth import Principal
from app.services.errors import Invalid, NotFound
from app.web.diagram import BPMN_JS_DIST
from app.web.pages import staff_error_pages
from app.web.session import page

VIEWABLE_XML = (".bpmn",)  # drawn with the bpmn-js viewer; DMN and the rest are shown as text
_HASH = re.compile(r"^[0-9a-f]{64}$")
STASH_SECONDS = 7 * 24 * 3600  # how long a checked upload waits for its deploy


staff_error_pages(bp)


# --- versions ------------------------------------------------------------------------------------


@bp.get("/processes")
@page
def version_list(s: Session, principal: Principal) -> Any:
    require_reader(principal)
    mine = drafts.drafts_of(s, principal.user.id) if principal.can("administer") else []
    return render_template("admin/versions.html", me=principal.user, versions=versions.list_versions(s),
                           can_admin=principal.can("administer"), drafts=mine)


@bp.get("/processes/<int:number>")
@page
def version_page(s: Session, principal: Principal, number: int) -> Any:
    require_reader(principal)
    version = versions.version_by_number(s, number)
    summary = next(v for v in versions.list_versions(s) if v["version"] == number)
    return render_template("admin/version.html", me=principal.user, version=version, summary=summary,
                           files=sorted(version.files), can_admin=principal.can("administer"))


@bp.get("/processes/<int:number>/files/<path:name>")
@page
def version_file(s: Session, principal: Principal, number: int, name: str) -> Any:
    require_reader(principal)
    version = versions.version_by_number(s, number)
    text = _file_of(version, name)
    return render_template("admin/file.html", me=principal.user, version=version, name=name, text=text,
                           diagram=name.endswith(VIEWABLE_XML))


@bp.get("/processes/<int:number>/raw/<path:name>")
@page
def version_file_raw(s: Session, principal: Principal, number: int, name: str) -> Any:
    """The file as stored, as plain text (never rendered by the browser as HTML or XML)."""
    require_reader(principal)
    return _plain(_file_of(versions.version_by_number(s, number), name))


def _plain(text: str) -> Response:
    resp = Response(text, mimetype="text/plain")
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


@bp.get("/processes/<int:number>.zip")
@page
def version_zip(s: Session, principal: Principal, number: int) -> Any:
    require_reader(principal)
    version = versions.version_by_number(s, number)
    resp = Response(bundles.to_zip(version.files, version.deployed_at), mimetype="application/zip")
    resp.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(f'processes-v{number}.zip')}"
    return resp


def _file_of(version: ProcessVersion, name: str) -> str:
    text = version.files.get(name)
    if not isinstance(text, str):
        raise NotFound(f"version {version.version} has no file {name}")
    return text


@bp.post("/processes/<int:number>/retire")
@page
def version_retire(s: Session, principal: Principal, number: int) -> Any:
    principal.require("administer")
    versions.retire(s, number, principal.user.username)  # 409: retired already, or the only one left
    flash(_("版本 %(n)s 已停用：新案件不再使用它", n=number))
    return redirect(url_for("admin.version_page", number=number))


@bp.post("/processes/<int:number>/redeploy")
@page
def version_redeploy(s: Session, principal: Principal, number: int) -> Any:
    principal.require("administer")
    version, created = versions.redeploy(s, number, principal.user.username, _comment())
    flash(_("已部署为版本 %(n)s", n=version.version) if created else _("内容与当前版本相同，未部署新版本"))
    return redirect(url_for("admin.version_page", number=version.version))


def _comment() -> str | None:
    comment = (request.form.get("comment") or "").strip()
    if len(comment) > 2000:
        raise Invalid(_("部署说明最多 2000 字"), {"comment": "too long"})
    return comment or None


# --- compare -------------------------------------------------------------------------------------


@bp.get("/processes/compare")
@page
def compare_page(s: Session, principal: Principal) -> Any:
    require_reader(principal)
    numbers = [_version_arg(key) for key in ("from", "to")]
    old, new = (versions.version_by_number(s, n) for n in numbers)
    changes = compare(old.files, new.files, f"v{old.version}", f"v{new.version}")
    return render_template("admin/compare.html", me=principal.user, old_label=_("版本 %(n)s", n=old.version),
                           new_label=_("版本 %(n)s", n=new.version), changes=changes,
                           versions=versions.list_versions(s), chosen=numbers)


def _version_arg(key: str) -> int:
    value = request.args.get(key, "")
    if not value.isdigit():
        raise Invalid(_("请选择要比较的两个版本"), {key: "required"})
    return int(value)


# --- upload, check, deploy -----------------------------------------------------------------------


@bp.get("/processes/upload")
@page
def upload_form(s: Session, principal: Principal) -> Any:
    principal.require("administer")
    return render_template("admin/upload.html", me=principal.user)


@bp.post("/processes/upload")
@page
def upload_check(s: Session, principal: Principal) -> Any:
    """Check an uploaded bundle as deploy would and play its scenarios; keep it (by its hash) for
    the deploy that may follow, and compare it with the current version."""
    principal.require("administer")
    uploads = [bundles.Upload(f.filename or "", f.read()) for f in request.files.getlist("bundle")]
    return _check_page(s, principal, uploads)


def _check_page(s: Session, principal: Principal, uploads: list[bundles.Upload],
                base: dict[str, str] | None = None) -> Any:
    """Check the uploaded files (over ``base``, a draft's bundle) and show the results."""
    try:
        files = (base or {}) | (bundles.read_upload(uploads) if uploads or not base else {})
        report = scenarios.check_upload(s, files)
    except (Invalid, scenarios.ScenarioError) as exc:
        message = exc.message if isinstance(exc, Invalid) else str(exc)
        return render_template("admin/upload.html", me=principal.user, error=message), 422
    key = _stash(files)
    deployable = versions.with_configuration(s, scenarios.bundle_files(files))
    current = versions.latest_version(s, required=False)
    changes = compare(current.files if current else {}, deployable, _("当前"), _("上传"))
    return render_template("admin/upload.html", me=principal.user, report=report.as_dict(), bundle=key,
                           changes=changes, current=current, names=sorted(files))


@bp.post("/processes/deploy")
@page
def upload_deploy(s: Session, principal: Principal) -> Any:
    """Deploy a checked upload with a comment; the check runs again, so only a passing bundle lands."""
    principal.require("administer")
    comment = _comment()
    if not comment:
        raise Invalid(_("请填写部署说明"), {"comment": "required"})
    files = _stashed(request.form.get("bundle", ""))
    report = scenarios.check_upload(s, files)
    if not report.ok:
        raise Invalid(_("检查未通过，不能部署"), {"bundle": "check failed"})
    version, created = versions.deploy(s, scenarios.bundle_files(files), principal.user.username, comment)
    flash(_("已部署为版本 %(n)s", n=version.version) if created else _("内容与当前版本相同，未部署新版本"))
    return redirect(url_for("admin.version_page", number=version.version))


@bp.get("/processes/checked/<key>/raw/<path:name>")
@page
def checked_file_raw(s: Session, principal: Principal, key: str, name: str) -> Any:
    """A file of a checked upload or draft bundle, as plain text: the new side of its diagram diff."""
    principal.require("administer")
    text = _stashed(key).get(name)
    if not isinstance(text, str):
        raise NotFound(f"the checked bundle has no file {name}")
    return _plain(text)


def _stash_dir() -> Path:
    return Path(current_app.extensions["whistle.settings"].upload_dir) / "bundles"


def _stash(files: dict[str, str]) -> str:
    """Keep a checked upload (its scenarios too: deploy plays them again) under its content hash."""
    key = bundle_hash(files)
    folder = _stash_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.json"):  # a check a week old is not deployed any more: start again
        if time.time() - old.stat().st_mtime > STASH_SECONDS:
            old.unlink(missing_ok=True)
    (folder / f"{key}.json").write_text(json.dumps(files, ensure_ascii=False), encoding="utf-8")
    return key


def _stashed(key: str) -> dict[str, str]:
    path = _stash_dir() / f"{key}.json"
    if not _HASH.match(key) or not path.is_file():
        abort(404)
    files: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return files


# --- the modeler and drafts ----------------------------------------------------------------------


@bp.get("/processes/<int:number>/edit/<path:name>")
@page
def modeler(s: Session, principal: Principal, number: int, name: str) -> Any:
    """The editor of this file (bpmn-js Modeler, dmn-js, the form editor) on the admin's draft of
    it, or on the version's file."""
    principal.require("administer")
    version = versions.version_by_number(s, number)
    text = _file_of(version, name)
    if not name.endswith(drafts.EDITABLE):
        raise NotFound(f"{name} is not a diagram, decision table or form")
    mine = drafts.drafts_of(s, principal.user.id)
    draft = next((d for d in mine if d.file_name == name and d.base_version == number), None)
    others = sorted({d.base_version for d in mine} - {number})
    return render_template(modeling.editor_template(name), me=principal.user, version=version, name=name,
                           text=draft.text if draft else text, draft=draft, other_bases=others)


@bp.get("/vendor/bpmn-modeler.js")
def modeler_script() -> Any:
    if not BPMN_JS_DIST.is_dir():
        abort(404, "bpmn-js is not installed: run `npm ci` in the project folder")
    return send_from_directory(BPMN_JS_DIST, "bpmn-modeler.production.min.js", max_age=3600)


@bp.post("/drafts")
@page
def draft_save(s: Session, principal: Principal) -> Any:
    """Called by the modeler as the diagram changes: the admin's draft of one file."""
    principal.require("administer")
    number = request.form.get("version", "")
    if not number.isdigit():
        raise Invalid("'version' must be a version number", {"version": "required"})
    draft = drafts.save(s, principal.user.id, int(number), request.form.get("file", ""), request.form.get("text", ""))
    return jsonify({"file": draft.file_name, "saved_at": draft.updated_at.isoformat() + "Z"})


@bp.post("/drafts/check")
@page
def draft_check(s: Session, principal: Principal) -> Any:
    """Check the admin's drafts over the version they started from, with the scenarios uploaded."""
    principal.require("administer")
    mine = drafts.drafts_of(s, principal.user.id)
    if not mine:
        raise Invalid(_("没有草稿"), {"drafts": "none"})
    base = drafts.bundle(s, principal.user.id, mine[0].base_version)
    uploads = [bundles.Upload(f.filename or "", f.read()) for f in request.files.getlist("bundle") if f.filename]
    if not uploads or not any(name.startswith(scenarios.SCENARIO_PREFIX) for name in bundles.read_upload(uploads)):
        base = base | _shipped_scenarios()  # none uploaded: the installation's own scenario tests
    return _check_page(s, principal, uploads, base)


def _shipped_scenarios() -> dict[str, str]:
    """``scenarios/*.yaml`` of the processes folder this installation deploys from (the product's
    scenario tests), so drafts are played against them without an upload."""
    folder = Path(current_app.extensions["whistle.settings"].processes_dir) / "scenarios"
    return {f"{scenarios.SCENARIO_PREFIX}{path.name}": path.read_text(encoding="utf-8")
            for path in sorted(folder.glob("*.yaml"))}


@bp.post("/drafts/discard")
@page
def draft_discard(s: Session, principal: Principal) -> Any:
    principal.require("administer")
    drafts.discard(s, principal.user.id)
    flash(_("草稿已丢弃"))
    return redirect(url_for("admin.version_list"))
