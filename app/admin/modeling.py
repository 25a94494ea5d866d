"""The modeler's helpers (建模): validate a draft as it is edited, the pick-lists of its properties
panel, and the live preview of a form schema.

- ``POST /admin/modeling/check``: the deploy check and the lint rules on the admin's drafts of a
  version with the file being edited over them (nothing is stored); every problem with its file,
  element id, line and rule, for the markers on the diagram and the list beside it.
- ``GET /admin/modeling/<version>/picklists``: what the properties panel offers, from the version's
  own locality model, its forms and the registered handlers.
- ``POST /admin/modeling/form-preview``: a JSON Schema drawn as the task page draws it.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, jsonify, render_template, request, send_from_directory
from flask_babel import gettext as _
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from app.admin import bp
from app.definitions import configuration, drafts, versions
from app.definitions.lint import Problem, lint_files
from app.engine.bundle import BundleError, _load_form
from app.models import ProcessVersion
from app.services.auth import Principal
from app.services.errors import Invalid, ServiceError
from app.services.handler_api import RESULT_TIMES, registered
from app.services.locality import load_locality
from app.services.workflow import stage_limits
from app.settings import ROOT
from app.web.forms import fields_of
from app.web.labels import is_english
from app.web.pages import _pickers
from app.web.session import page

# One line of the deploy check: "file: element (line n): message".
_CHECK_LINE = re.compile(r"^(?P<file>[^\s:]+): (?P<element>[^\s:()]+)(?: \(line (?P<line>\d+)\))?: (?P<message>.+)$")
_COUNT_LINE = re.compile(r"^\d+ problems:$")
DEPLOY_RULE = "deploy-check"  # the rule name of the deploy check's own problems
EDITOR_TEMPLATES = {".bpmn": "admin/modeler.html", ".dmn": "admin/dmn_editor.html",
                    ".schema.json": "admin/form_editor.html"}


def json_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """A fetch() endpoint: a service's refusal as JSON (``error``, ``fields``) with its status."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ServiceError as exc:
            return jsonify({"error": exc.message, "fields": getattr(exc, "fields", {})}), exc.status

    return wrapper


def editor_template(name: str) -> str:
    """The editor page of a file: the BPMN modeler, the DMN editor or the form editor."""
    return next(template for suffix, template in EDITOR_TEMPLATES.items() if name.endswith(suffix))


# --- validate as you edit -------------------------------------------------------------------------


@bp.post("/modeling/check")
@json_errors
@page
def modeling_check(s: Session, principal: Principal) -> Any:
    principal.require("administer")
    number, name, text = _edited_file()
    files = _drafts_over(s, principal, number) | {name: text}
    problems = check_problems(s, files) + lint_files(files)
    return jsonify({"file": name, "ok": not any(p.severity == "error" for p in problems),
                    "problems": [_shown(p) for p in problems]})


def _edited_file() -> tuple[int, str, str]:
    number = request.form.get("version", "")
    if not number.isdigit():
        raise Invalid(_("'version' 须为版本号"), {"version": "required"})
    name, text = request.form.get("file", ""), request.form.get("text", "")
    if not name.endswith(drafts.EDITABLE):
        raise Invalid(_("不能编辑的文件：%(name)s", name=name), {"file": "not editable"})
    if not text.strip() or len(text) > drafts.MAX_DRAFT_CHARS:
        raise Invalid(_("文件内容须为 1 至 %(n)s 个字符", n=drafts.MAX_DRAFT_CHARS), {"text": "invalid"})
    return int(number), name, text


def _drafts_over(s: Session, principal: Principal, number: int) -> dict[str, str]:
    """The version's files with the admin's drafts of that version over them."""
    files = dict(versions.version_by_number(s, number).files)
    return files | {d.file_name: d.text for d in drafts.drafts_of(s, principal.user.id) if d.base_version == number}


def check_problems(s: Session, files: dict[str, str]) -> list[Problem]:
    """What deploy would refuse, one :class:`Problem` per line of its report."""
    try:
        versions.check(versions.with_configuration(s, files))
    except Invalid as exc:
        return [_check_problem(line) for line in exc.fields.get("files", exc.message).splitlines()
                if line.strip() and not _COUNT_LINE.match(line)]
    return []


def _check_problem(line: str) -> Problem:
    match = _CHECK_LINE.match(line.strip())
    if not match:
        return Problem(None, None, None, line.strip(), DEPLOY_RULE)
    number = match["line"]
    return Problem(match["file"], match["element"], int(number) if number else None, match["message"], DEPLOY_RULE)


def _shown(problem: Problem) -> dict[str, Any]:
    shown = problem.as_dict()
    if problem.rule != DEPLOY_RULE:
        shown["message"] = _(problem.message)
    return shown


# --- the properties panel's pick-lists -------------------------------------------------------------


@bp.get("/modeling/<int:number>/picklists")
@json_errors
@page
def modeling_picklists(s: Session, principal: Principal, number: int) -> Any:
    principal.require("administer")
    version = versions.version_by_number(s, number)
    with configuration.activate(versions.configuration_of(s, version.id)):
        return jsonify(picklists(version))


def picklists(version: ProcessVersion) -> dict[str, Any]:
    """Roles (for lanes), stages, unit expressions, deadline expressions (for user tasks), form
    files and handlers with their parameters and result moments (for service tasks and timers),
    conditions on the forms' choice fields (for gateways' flows), from the active configuration."""
    english = is_english()
    locality = load_locality()
    return {
        "roles": [{"code": code, "label": role.label.text(english)} for code, role in locality.roles.items()],
        "stages": [{"code": code, "label": label.text(english)} for code, label in locality.stages.items()],
        "units": [{"code": "top", "label": _("最上级单位（平台）")}]
        + [{"code": code, "label": kind.label.text(english)} for code, kind in locality.unit_kinds.items()],
        "due_hours": [{"code": f"limits['{stage}']", "label": _("默认时限 %(h)s 小时", h=hours)}
                      for stage, hours in stage_limits().items()],
        "forms": sorted(name.rsplit("/", 1)[-1] for name in version.files if name.endswith(".schema.json")),
        "handlers": [handler_entry(name, func) for name, func in sorted(registered().items())],
        "conditions": condition_hints(version.files),
    }


def handler_entry(name: str, func: Callable[..., Any]) -> dict[str, Any]:
    """A handler's name, first line of its docstring, and its parameters (after the context)."""
    params = list(inspect.signature(func).parameters.values())[1:]
    return {"name": name, "doc": (inspect.getdoc(func) or "").split("\n")[0],
            "parameters": [{"name": p.name, "required": p.default is inspect.Parameter.empty}
                           for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)],
            "times": list(RESULT_TIMES.get(name, ()))}


def condition_hints(files: dict[str, str]) -> list[dict[str, str]]:
    """Conditions a gateway's flow may test, from the forms' fields that a person answers with a
    choice: ``field == value`` per choice (``enum`` or ``oneOf`` consts), ``field`` / ``not field``
    for a yes/no field; labelled with the form and the field's title."""
    hints: dict[str, str] = {}
    for name, text in sorted(files.items()):
        if not name.endswith(".schema.json"):
            continue
        form = name.rsplit("/", 1)[-1].removesuffix(".schema.json")
        schema = json.loads(text)
        for field, prop in (schema.get("properties") or {}).items():
            if not isinstance(prop, dict):
                continue
            title = f"{form} · {prop.get('title', field)}"
            for code, label in _choices(field, prop):
                hints.setdefault(code, f"{title}{label}")
    return [{"code": code, "label": label} for code, label in hints.items()]


def _choices(field: str, prop: dict[str, Any]) -> list[tuple[str, str]]:
    if prop.get("type") == "boolean":
        return [(field, ""), (f"not {field}", "")]
    consts = [(o.get("const"), o.get("title", "")) for o in prop.get("oneOf", [])
              if isinstance(o, dict) and "const" in o]
    consts += [(value, "") for value in prop.get("enum", [])]
    return [(f"{field} == {value!r}", f" · {label}" if label else "") for value, label in consts
            if isinstance(value, (str, int)) and not isinstance(value, bool)]


# --- the form editor's preview ---------------------------------------------------------------------


@bp.post("/modeling/form-preview")
@json_errors
@page
def modeling_form_preview(s: Session, principal: Principal) -> Any:
    principal.require("administer")
    text = request.form.get("schema", "")
    if len(text) > drafts.MAX_DRAFT_CHARS:
        raise Invalid(_("文件内容须为 1 至 %(n)s 个字符", n=drafts.MAX_DRAFT_CHARS), {"schema": "too long"})
    try:
        schema = _load_form("form", text)
    except BundleError as exc:
        return jsonify({"ok": False, "error": str(exc).removeprefix("form: ")}), 422
    fields = fields_of(schema, _pickers(s))
    html = render_template("admin/_form_preview.html", fields=fields, values=MultiDict(), errors={})
    return jsonify({"ok": True, "html": html, "fields": [f.name for f in fields]})



# --- dmn-js, served from node_modules like bpmn-js ---------------------------------------------------

DMN_JS_DIST = ROOT / "node_modules" / "dmn-js" / "dist"
DMN_JS_FILES = ("dmn-modeler.production.min.js",)


@bp.get("/vendor/dmn-js/<path:filename>")
def dmn_js(filename: str) -> Any:
    """The DMN modeler and its stylesheets and font (not the rest of node_modules)."""
    if filename not in DMN_JS_FILES and not filename.startswith("assets/"):
        abort(404)
    if not DMN_JS_DIST.is_dir():
        abort(404, "dmn-js is not installed: run `npm ci` in the project folder")
    return send_from_directory(DMN_JS_DIST, filename, max_age=3600)
