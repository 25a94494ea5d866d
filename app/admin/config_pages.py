"""本地配置 The locality configuration of the current version in the browser: view the four files,
edit one (or upload it), check it as deploy does, see its difference from the deployed one, and
deploy it as a new process version with a comment. The work is app/definitions/config_edit.py."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from app.admin import bp
from app.definitions import config_edit, configuration
from app.services import clock
from app.services.auth import Principal
from app.services.errors import Invalid
from app.web.deadlines import warning_text
from app.web.session import page


@bp.get("/config")
@page
def config_list(s: Session, principal: Principal) -> Any:
    principal.require("administer")
    version, files = config_edit.deployed(s)
    warnings, _years = config_edit.warnings_of(s, clock.now().date())
    return render_template("admin/config.html", me=principal.user, version=version, names=configuration.CONFIG_FILES,
                           files=files, warnings=_warnings(warnings))


@bp.get("/config/<name>")
@page
def config_file(s: Session, principal: Principal, name: str) -> Any:
    principal.require("administer")
    version, files = config_edit.deployed(s)
    config_edit.edited_files(s, name, "")  # 404 for a name that is no configuration file
    warnings, years = config_edit.warnings_of(s, clock.now().date())
    return render_template("admin/config_file.html", me=principal.user, version=version, name=name,
                           text=files.get(name, ""), warnings=_warnings(warnings), check=None, missing_years=years)


@bp.post("/config/<name>/check")
@page
def config_check(s: Session, principal: Principal, name: str) -> Any:
    """Check an edit (the textarea, or an uploaded file in its place) and show its difference."""
    principal.require("administer")
    found = config_edit.check_edit(s, name, _submitted_text(), clock.now().date())
    version, _files = config_edit.deployed(s)
    return render_template("admin/config_file.html", me=principal.user, version=version, name=name, text=found.text,
                           warnings=_warnings(found.warnings), check=found, changes=found.changes,
                           old_label=_("版本 %(n)s", n=version.version), new_label=_("修改后"),
                           missing_years=found.missing_years), (200 if found.ok else 422)


@bp.post("/config/<name>/deploy")
@page
def config_deploy(s: Session, principal: Principal, name: str) -> Any:
    principal.require("administer")
    version, found = config_edit.deploy_edit(s, name, _submitted_text(), principal.user.username,
                                             request.form.get("comment") or "", clock.now().date())
    flash(_("已部署为版本 %(n)s", n=version.version))
    for warning in _warnings(found.warnings):
        flash(warning, "error")
    return redirect(url_for("admin.version_page", number=version.version))


def _submitted_text() -> str:
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        try:
            return upload.read(config_edit.MAX_BYTES + 1).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Invalid(_("文件不是 UTF-8 文本"), {"file": "not UTF-8"}) from exc
    text = request.form.get("text")
    if text is None:
        raise Invalid(_("请填写或上传配置文件"), {"text": "required"})
    return text.replace("\r\n", "\n")


def _warnings(found: list[str]) -> list[str]:
    return [warning_text(w) for w in found]
